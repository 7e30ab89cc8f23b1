{#-
    Text helpers shared by the normalisation macros. Each returns one SQL expression.

    lower() on accented capitals depends on the database's LC_CTYPE (a plain "C" ctype leaves
    'É' as it is); fold_case() finishes the job for the Latin letters seen in European names so
    results do not depend on how the server was initialised.
-#}

{% macro fold_case(expr) -%}
    translate(
        lower({{ expr }}),
        'ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞŸŒŠŽŁĆČĘĚŃŇŘŚŞŢŤŮŹŻĄĖĮŪŐŰĞȘ',
        'àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿœšžłćčęěńňřśşţťůźżąėįūőűğș'
    )
{%- endmacro %}

{#- Accents removed from lower-case Latin letters (for lookup keys, never for hashed values). -#}
{% macro strip_accents(expr) -%}
    translate(
        {{ expr }},
        'àáâãäåçèéêëìíîïñòóôõöøùúûüýÿšžłćčęěńňřśşţťůźżąėįūőűğș',
        'aaaaaaceeeeiiiinoooooouuuuyyszlcceennrssttuzzaeiuougs'
    )
{%- endmacro %}

{#- Trim, collapse inner whitespace (incl. no-break spaces), and turn '' into null. -#}
{% macro clean_text(expr) -%}
    nullif(btrim(regexp_replace({{ expr }}, '[\s\u00a0\u202f]+', ' ', 'g')), '')
{%- endmacro %}

{#- Remove spaces, punctuation and digits; letters (also outside a-z) are kept. -#}
{% macro strip_non_letters(expr) -%}
    regexp_replace(
        {{ expr }},
        '[[:space:][:punct:][:digit:]\u00a0\u202f\u2018\u2019\u02bc\u00b4\u00b7\u00ab\u00bb\u201c\u201d\u201e\u2013\u2014]',
        '',
        'g'
    )
{%- endmacro %}

{#- Key to match free-text names of things (countries): case, accents, spaces and punctuation folded. -#}
{% macro lookup_key(expr) -%}
    nullif({{ strip_non_letters(strip_accents(fold_case(expr))) }}, '')
{%- endmacro %}

{#- Safe text -> boolean: 'true'/'false' (and yes/no, oui/non, 1/0); anything else null instead of an error. -#}
{% macro text_to_boolean(expr) -%}
    case
        when lower(btrim({{ expr }})) in ('true', 't', 'yes', 'y', '1', 'on', 'oui') then true
        when lower(btrim({{ expr }})) in ('false', 'f', 'no', 'n', '0', 'off', 'non') then false
    end
{%- endmacro %}
