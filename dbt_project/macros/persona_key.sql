{#- A persona's readable key from its levels, e.g. '25-34|hot|eco_fashion', '25-34|hot|*', 'other'. -#}
{% macro persona_key(age_band, engagement_tier, interest_label) -%}
    case
        when {{ age_band }} is null then 'other'
        else {{ age_band }} || '|' || coalesce({{ engagement_tier }}, '*') || '|' || coalesce({{ interest_label }}, '*')
    end
{%- endmacro %}
