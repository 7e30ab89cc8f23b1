{#- Every non-null value lies between min_value and max_value (inclusive). -#}
{% test accepted_range(model, column_name, min_value, max_value) %}

select {{ column_name }} as bad_value
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}

{% endtest %}
