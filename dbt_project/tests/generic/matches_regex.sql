{#- Every non-null value matches the PostgreSQL regular expression `pattern`. -#}
{% test matches_regex(model, column_name, pattern) %}

select {{ column_name }} as bad_value
from {{ model }}
where {{ column_name }} is not null
    and not ({{ column_name }}::text ~ '{{ pattern | replace("'", "''") }}')

{% endtest %}
