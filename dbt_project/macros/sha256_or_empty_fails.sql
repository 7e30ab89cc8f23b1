{#-
    True when `column` is not a SHA-256 in lower-case hex nor '' (Meta's "missing" marker): null,
    upper case, wrong length, or the hash of the empty string (a missing value hashed by mistake).
    The length and the characters are checked apart: one regular expression with a counted
    repetition ({64}) costs PostgreSQL about 40 times more per value. Used by the tests
    is_sha256_or_empty and column_checks.
-#}
{% macro sha256_or_empty_fails(column) -%}
({{ column }} is null
    or not ({{ column }} = '' or (length({{ column }}) = 64 and {{ column }} ~ '^[0-9a-f]*$'))
    or {{ column }} = encode(sha256(''::bytea), 'hex'))
{%- endmacro %}
