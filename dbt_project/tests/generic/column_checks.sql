{#- Several checks of a model's columns in one pass over its rows, where a test per column read
    them all once per check: `not_null` (a list of columns: no null), `accepted_values` (a mapping
    of column to its allowed values, compared as text; a null is accepted, as in dbt's own test)
    and `sha256_or_empty` (a list of columns, each checked as the test is_sha256_or_empty checks
    one: a SHA-256 in lower-case hex or '', never null nor the hash of '').
    For the big models: on the web events (20M rows at 1M contacts) and on the person views, each
    of these checks was a full read, of a table or of a view recomputed (README, Benchmark).

    One row per failing check: the check, the column and how many rows break it; no row when all
    hold. A check with no column fails at compile time. -#}
{% test column_checks(model, not_null=[], accepted_values={}, sha256_or_empty=[]) %}

{%- set checks = [] -%}
{%- for column in not_null -%}
    {%- do checks.append(("not_null", column, adapter.quote(column) ~ " is null")) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- if not values -%}
        {{ exceptions.raise_compiler_error("column_checks on " ~ model ~ ": accepted_values of " ~ column ~ " lists no value") }}
    {%- endif -%}
    {%- set allowed = [] -%}
    {%- for value in values -%}
        {%- do allowed.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do checks.append(("accepted_values", column, adapter.quote(column) ~ "::text not in (" ~ allowed | join(", ") ~ ")")) -%}
{%- endfor -%}
{%- for column in sha256_or_empty -%}
    {%- do checks.append(("sha256_or_empty", column, sha256_or_empty_fails(adapter.quote(column)))) -%}
{%- endfor -%}
{%- if not checks -%}
    {{ exceptions.raise_compiler_error("column_checks on " ~ model ~ ": name at least one column in not_null, accepted_values or sha256_or_empty") }}
{%- endif %}

with counted as (

    select
        {%- for kind, column, failing in checks %}
        count(*) filter (where {{ failing }}) as failing_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}

)

select checks.check_name, checks.column_name, checks.failing_rows
from counted
cross join lateral (
    values
    {%- for kind, column, failing in checks %}
        ('{{ kind }}', '{{ column }}', counted.failing_{{ loop.index }}){{ "," if not loop.last }}
    {%- endfor %}
) as checks (check_name, column_name, failing_rows)
where checks.failing_rows > 0

{% endtest %}
