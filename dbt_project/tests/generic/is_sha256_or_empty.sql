{#-
    Every value is a SHA-256 as 64 lower-case hex characters, or '' (Meta's "missing" marker).
    Fails on null, upper case, wrong length, and on the hash of the empty string (a missing value
    hashed by mistake). The length and the characters are checked apart: one regular expression
    with a counted repetition ({64}) costs PostgreSQL about 40 times more per value.
-#}
{% test is_sha256_or_empty(model, column_name) %}

select {{ column_name }} as bad_value
from {{ model }}
where {{ column_name }} is null
    or not ({{ column_name }} = '' or (length({{ column_name }}) = 64 and {{ column_name }} ~ '^[0-9a-f]*$'))
    or {{ column_name }} = encode(sha256(''::bytea), 'hex')

{% endtest %}
