{#-
    Use custom schema names as they are: `+schema: marts` builds in schema `marts`
    (dbt's default would be `<target schema>_marts`). Models without a custom schema
    go to the target's schema (`staging`).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
