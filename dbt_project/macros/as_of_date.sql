{#-
    The date ages are computed at: var `as_of_date` ('YYYY-MM-DD') when set, else current_date.
    Tests pin it so that ages (and the two-digit-year pivot) do not move with the calendar.
-#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value is none or (value | string | trim) == '' -%}
        current_date
    {%- else -%}
        {%- set text = value | string | trim -%}
        {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', text) -%}
            {{ exceptions.raise_compiler_error(
                "var as_of_date must be a date written YYYY-MM-DD (got '" ~ text ~ "'); "
                ~ "leave it empty to use the current date"
            ) }}
        {%- endif -%}
        date '{{ text }}'
    {%- endif -%}
{%- endmacro %}
