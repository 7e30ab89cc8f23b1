{#-
    Every value is a SHA-256 as 64 lower-case hex characters, or '' (Meta's "missing" marker).
    Fails on null, upper case, wrong length, and on the hash of the empty string (a missing value
    hashed by mistake). The condition is the macro sha256_or_empty_fails, which column_checks
    uses too (several columns in one read).
-#}
{% test is_sha256_or_empty(model, column_name) %}

select {{ column_name }} as bad_value
from {{ model }}
where {{ sha256_or_empty_fails(column_name) }}

{% endtest %}
