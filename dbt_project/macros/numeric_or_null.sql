{#-
    A money amount read from raw text (a JSON value as text): numeric(14, 2) when it is a plain
    decimal number (optional sign, exponent of at most three digits) below 10^9 in absolute value;
    null otherwise ('', 'abc', '1e300', 'NaN', 'Infinity'). A source's typo or hostile value then
    becomes a missing amount in that row, instead of an error that stops every model built on the
    table; the bound keeps currency conversion, per-person sums and CLV (numeric(14, 2)) from
    overflowing. Nested CASEs, because PostgreSQL does not promise to evaluate AND's operands in order.
-#}
{% macro numeric_or_null(text_expr) -%}
    (case
        when ({{ text_expr }}) ~ '^[[:space:]]*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]{1,3})?[[:space:]]*$'
        then case
            when abs(({{ text_expr }})::numeric) < 1e9 then ({{ text_expr }})::numeric(14, 2)
        end
    end)
{%- endmacro %}
