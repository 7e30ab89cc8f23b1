{#-
    An amount converted to euros with the rates of var currency_rates_to_eur ({CODE: euros per
    unit}), rounded to the cent; an amount without a currency is taken to be in var default_currency_code. An unknown
    currency gives null (never a wrong figure), which the marts' tests and counts show.
-#}
{% macro to_eur(amount, currency_code) -%}
    {%- set rates = var('currency_rates_to_eur') -%}
    {%- set default_code = var('default_currency_code') | string | upper -%}
    (({{ amount }}) * case upper(coalesce({{ currency_code }}, '{{ default_code }}'))
    {%- for code, rate in rates.items() %}
        when '{{ code | string | upper }}' then {{ rate | float }}
    {%- endfor %}
    end)::numeric(14, 2)
{%- endmacro %}
