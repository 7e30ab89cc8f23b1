{#-
    Key to match a social display name with a CRM person's name: case and accents folded, spaces,
    punctuation and digits removed ('Chloé D'Almeida' and 'CHLOE DALMEIDA' → 'chloedalmeida').
-#}
{% macro name_match_key(expr) -%}
    {{ lookup_key(expr) }}
{%- endmacro %}

{#-
    For a display name shortened to 'First L.' (the last name's initial, with or without the
    dot): the key of the first name followed by the initial ('Chloé D.' → 'chloed'); null for any
    other shape.
-#}
{% macro name_initial_match_key(expr) -%}
    case
        when {{ expr }} ~ '^\s*\S.*\s+[^\s.]\.?\s*$'
        then {{ lookup_key("regexp_replace(" ~ expr ~ ", '\\s+[^\\s.]\\.?\\s*$', '')") }}
            || {{ lookup_key("substring(" ~ expr ~ " from '([^\\s.])\\.?\\s*$')") }}
    end
{%- endmacro %}
