{#-
    Values normalised per Meta's customer-list rules (docs: external-apis.md), then SHA-256.
    Missing values hash to '' (Meta's "missing" marker), never to null and never to sha256('').
-#}

{#- Lower-case hex SHA-256 of the UTF-8 bytes; '' when the value is null or ''. -#}
{% macro sha256_hex_or_empty(expr) -%}
    coalesce(encode(sha256(convert_to(nullif({{ expr }}, ''), 'UTF8')), 'hex'), '')
{%- endmacro %}

{#- FN, LN: lower case, no spaces, punctuation or digits; letters outside a-z kept (José -> josé). -#}
{% macro meta_normalise_name(expr) -%}
    nullif({{ strip_non_letters(fold_case("normalize(" ~ expr ~ ", NFC)")) }}, '')
{%- endmacro %}

{#-
    CT: like names, after dropping what is not the town's name: a CEDEX suffix ('LYON CEDEX 03')
    and an arrondissement number ('Paris 11e', 'Marseille 1er arrondissement').
-#}
{% macro meta_normalise_city(expr) -%}
    {%- set without_cedex = "regexp_replace(" ~ expr ~ ", '[[:space:]]*\\mcedex\\M.*$', '', 'i')" -%}
    {%- set without_arrondissement = "regexp_replace(" ~ without_cedex
        ~ ", '[[:space:]]+[0-9]{1,2}[[:space:]]*(e|er|ème|eme|è)?([[:space:]]+arrondissement)?[[:space:]]*$', '', 'i')" -%}
    {{ meta_normalise_name(without_arrondissement) }}
{%- endmacro %}

{#-
    ST: lower case, no spaces or punctuation; in the US the two-letter code ('N.Y.' -> 'ny'; a state
    written in full is null: Meta wants the code and we keep no table of US state names).
-#}
{% macro meta_normalise_state(expr, country_code) -%}
    case
        when upper({{ country_code }}) = 'US' then
            case when {{ meta_normalise_name(expr) }} ~ '^[a-z]{2}$' then {{ meta_normalise_name(expr) }} end
        else {{ meta_normalise_name(expr) }}
    end
{%- endmacro %}

{#- ZIP: lower case, no spaces, dashes or dots; US codes cut to their first five digits. -#}
{% macro meta_normalise_zip(expr, country_code) -%}
    {%- set compact = fold_case("regexp_replace(" ~ expr ~ ", '[[:space:]\\u00a0.-]', '', 'g')") -%}
    nullif(
        case
            when upper({{ country_code }}) = 'US' then substr(regexp_replace({{ expr }}, '[^0-9]', '', 'g'), 1, 5)
            else {{ compact }}
        end,
        ''
    )
{%- endmacro %}
