{#-
    Every value is a SHA-256 as 64 lower-case hex characters, or '' (Meta's "missing" marker).
    Fails on null, upper case, wrong length, and on the hash of the empty string (a missing value
    hashed by mistake).
-#}
{% test is_sha256_or_empty(model, column_name) %}

select {{ column_name }} as bad_value
from {{ model }}
where {{ column_name }} is null
    or not ({{ column_name }} = '' or {{ column_name }} ~ '^[0-9a-f]{64}$')
    or {{ column_name }} = encode(sha256(''::bytea), 'hex')

{% endtest %}
