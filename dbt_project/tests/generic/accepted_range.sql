{#- Every non-null value lies between min_value and max_value (inclusive); either bound may be left out. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}

select {{ column_name }} as bad_value
from {{ model }}
where false
{%- if min_value is not none %}
    or {{ column_name }} < {{ min_value }}
{%- endif %}
{%- if max_value is not none %}
    or {{ column_name }} > {{ max_value }}
{%- endif %}

{% endtest %}
