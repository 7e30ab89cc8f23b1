{#-
    Age band of an age in whole years: '18-24', '25-34', '35-44', '45-54', '55-64', '65+';
    'under_18' for minors and 'unknown' without an age. Shared by seg_age_band and
    person_demographics so the two can never disagree.
-#}
{% macro age_band(age) -%}
    case
        when {{ age }} is null then 'unknown'
        when {{ age }} < 18 then 'under_18'
        when {{ age }} < 25 then '18-24'
        when {{ age }} < 35 then '25-34'
        when {{ age }} < 45 then '35-44'
        when {{ age }} < 55 then '45-54'
        when {{ age }} < 65 then '55-64'
        else '65+'
    end
{%- endmacro %}

{#-
    The latest version of each record of a staging relation that carries record_id, updated_at,
    loaded_at and batch_id (raw tables are append-only: a record appears once per batch that
    loaded it). A full select statement, for use as a CTE body.
-#}
{% macro latest_version_of_each_record(relation) -%}
    select distinct on (record_id) *
    from {{ relation }}
    order by record_id, updated_at desc nulls last, loaded_at desc, batch_id desc
{%- endmacro %}
