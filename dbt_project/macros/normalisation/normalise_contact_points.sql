{#-
    Email and phone normalisation per Meta's rules (which also suit LinkedIn and deduplication).
-#}

{#- Trimmed and lower-cased (a 'mailto:' dropped); null when blank or not shaped like x@y.z. -#}
{% macro normalise_email(raw) -%}
    {%- set e = "regexp_replace(lower(regexp_replace(" ~ raw ~ ", '^[\\s\\u00a0]+|[\\s\\u00a0]+$', '', 'g')), '^mailto:', '')" -%}
    case when {{ e }} ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:].]{2,}$' then {{ e }} end
{%- endmacro %}


{#-
    Phones, in two steps so each step's regexes run once per row:

    phone_digits(raw)            the digits of a phone as typed, after dropping an extension
                                 ('ext. 12', 'poste 3', 'x12') and the '(0)' trunk marker;
                                 null when blank or when it holds letters or odd symbols
    phone_is_international(raw)  typed with '+' or '00' in front

    normalise_phone(digits, is_international, calling_code, trunk_prefix, nsn_min, nsn_max)
        -> digits only, calling code first, no leading zeros ('06 12 34 56 78' in France ->
        '33612345678'), or null when the number cannot be made sure of. The other arguments
        describe the contact's country (seed country_codes):
          - national numbers drop the trunk prefix ('0'; '06' in Hungary; none in Italy, where the
            leading 0 belongs to the number) and take the calling code; a national number that
            already starts with the calling code ('33612345678') keeps it once;
          - international numbers in the contact's country lose a trunk prefix typed after the
            calling code ('+33 06 ...');
          - the national significant number must have nsn_min..nsn_max digits and not start with 0
            (except in Italy); numbers of other countries need 8 to 15 digits in all.
-#}
{% macro phone_digits(raw) -%}
    {#- an extension needs a letter or '#': the pattern that drops it (unanchored, so tried from every
        character) only runs on phones that have one #}
    {%- set t = "btrim(" ~ raw ~ ")" -%}
    {%- set s = "case when " ~ t ~ " ~ '[[:alpha:]#]' then regexp_replace(" ~ t ~ ", '[[:space:]]*(ext\\.?|extension|poste|x|#)[[:space:]]*[0-9]{1,6}[[:space:]]*$', '', 'i') else " ~ t ~ " end" -%}
    case
        when {{ s }} ~ '^[-0-9[:space:]().+/]*[0-9][-0-9[:space:]().+/]*$'
            then regexp_replace(regexp_replace({{ s }}, '\(\s*0\s*\)', ' ', 'g'), '[^0-9]', '', 'g')
    end
{%- endmacro %}


{% macro phone_is_international(raw) -%}
    coalesce(btrim({{ raw }}) ~ '^(\+|00)', false)
{%- endmacro %}


{#- The digits of an international number without its '00' or leading zeros (calling code first). -#}
{% macro phone_international_digits(digits) -%}
    ltrim(case when starts_with({{ digits }}, '00') then substr({{ digits }}, 3) else {{ digits }} end, '0')
{%- endmacro %}


{% macro normalise_phone(digits, is_international, calling_code, trunk_prefix, nsn_min, nsn_max) -%}
    {%- set cc = calling_code -%}
    {%- set trunk = "coalesce(" ~ trunk_prefix ~ ", '')" -%}
    {%- set intl = phone_international_digits(digits) -%}
    {%- set own_country = "coalesce(starts_with(" ~ intl ~ ", " ~ cc ~ "), false)" -%}
    {%- set after_cc = "substr(" ~ intl ~ ", length(" ~ cc ~ ") + 1)" -%}
    {%- set nsn -%}
        case
            when {{ is_international }} then
                case
                    when {{ trunk }} <> '' and {{ cc }} <> '1' and starts_with({{ after_cc }}, {{ trunk }})
                        then substr({{ after_cc }}, length({{ trunk }}) + 1)
                    else {{ after_cc }}
                end
            when {{ trunk }} <> '' and starts_with({{ digits }}, {{ trunk }})
                then substr({{ digits }}, length({{ trunk }}) + 1)
            when {{ cc }} <> '39' and starts_with({{ digits }}, {{ cc }})
                and length({{ digits }}) - length({{ cc }}) between {{ nsn_min }} and {{ nsn_max }}
                then substr({{ digits }}, length({{ cc }}) + 1)
            else {{ digits }}
        end
    {%- endset -%}
    case
        when {{ digits }} is null or {{ digits }} = '' then null
        when {{ is_international }} and not {{ own_country }}
            then case when {{ intl }} ~ '^[1-9][0-9]{7,14}$' then {{ intl }} end
        when {{ cc }} is null then null
        when length({{ nsn }}) between {{ nsn_min }} and {{ nsn_max }}
            and ({{ cc }} = '39' or {{ nsn }} !~ '^0')
            and length({{ cc }}) + length({{ nsn }}) <= 15
            then {{ cc }} || {{ nsn }}
    end
{%- endmacro %}
