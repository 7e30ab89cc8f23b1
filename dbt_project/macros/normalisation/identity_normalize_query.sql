{#-
    The query `audience identity normalize` runs on each chunk of input lines (compiled once by
    plugins/audience/normalize.py): the warehouse's two normalisation stages back to back.

    input_relation      line_no and the raw fields email, phone, country, first_name, last_name, city,
                        state, zip, birth_date, gender, external_id (text)
    country_names       shaped like int_country_names__unpivoted (macro country_names_unpivoted)
    One row per input row, in line_no order: the platform's keys and `reasons` (jsonb).
-#}
{% macro identity_normalize_query(platform, input_relation, country_names) -%}
with

contacts as (

    select * from {{ input_relation }}

),

country_names as (

    select * from {{ country_names }}

),

{{ contact_fields_canonical_ctes(
    'canonical',
    'contacts',
    'country_names',
    fields={
        'email': 'email', 'phone': 'phone', 'first_name': 'first_name', 'last_name': 'last_name',
        'city': 'city', 'state': 'state', 'zip': 'zip', 'country': 'country',
        'birth_date': 'birth_date', 'gender': 'gender',
    },
    keep=['line_no', 'external_id'],
    with_reasons=true,
) }},

{{ platform_identifiers_ctes(
    'identifiers',
    'canonical',
    platform,
    extern_id="coalesce(btrim(external_id), '')",
    keep=['line_no'],
    with_reasons=true,
) }}

select * from identifiers
order by line_no
{%- endmacro %}
