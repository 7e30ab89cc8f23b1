{#-
    The one implementation of contact-identifier normalisation, in two stages that the warehouse and
    `audience identity normalize` (plugins/audience/normalize.py) both run:

      contact_fields_canonical_ctes    raw contact fields as typed -> canonical values, per record
                                       (email, E.164 phone digits, names, city, state, zip, ISO2
                                       country, birth date, m/f gender)
      platform_identifiers_ctes        canonical values -> each platform's keys (Meta's normalised
                                       and SHA-256-hashed multi-key schema, or LinkedIn's
                                       SHA256_EMAIL, firstName, lastName, country)

    The warehouse merges records into persons between the two stages (int_persons__normalised);
    the tool runs them back to back on each input line. With with_reasons=true each stage also
    says why a value that was given came out empty; a reason never holds the value itself.

    Each macro writes CTE definitions ('name as (...), ...') to place inside a model's `with`;
    the last one is called `name`.
-#}


{#-
    Every way a country is written in seed country_codes (ISO2, ISO3, English, French, German,
    local name, aliases) folded to a lookup key -> the country's codes. `countries` is the seed.
-#}
{% macro country_names_unpivoted(countries) -%}
    select distinct
        {{ lookup_key('country_name') }} as country_lookup_key,
        upper(countries.iso2) as country_code,
        upper(countries.iso3) as country_code_iso3,
        countries.calling_code,
        nullif(countries.trunk_prefix, '') as trunk_prefix,
        countries.phone_nsn_min,
        countries.phone_nsn_max,
        countries.zip_length
    from {{ countries }} as countries
    cross join lateral unnest(
        array[countries.iso2, countries.iso3, countries.name_en, countries.name_fr, countries.name_de,
              countries.name_local]
        || coalesce(string_to_array(countries.aliases, '|'), array[]::text[])
    ) as country_name
    where {{ lookup_key('country_name') }} is not null
{%- endmacro %}


{#-
    Stage 1: raw contact fields -> canonical values.

    contacts       relation or CTE with the raw fields
    country_names  relation or CTE shaped like int_country_names__unpivoted
    fields         {field: column of contacts} for email, phone, first_name, last_name, city, state,
                   zip, country, birth_date, gender (a field left out is null)
    keep           columns of contacts passed through unchanged
    Output (CTE `name`): keep, email, phone_e164_digits, first_name, last_name, city, state, zip,
    country_code, birth_date, birth_date_precision_if_valid, has_birth_date_text, gender, and
    phone_country_code (the country national phones were read in); with_reasons: email_reason,
    phone_reason, country_reason, birth_date_reason, gender_reason.

    National phone numbers are read in the record's country, else in var default_country_iso2.
-#}
{% macro contact_fields_canonical_ctes(name, contacts, country_names, fields, keep=[], with_reasons=false) -%}
    {%- set names = ['email', 'phone', 'first_name', 'last_name', 'city', 'state', 'zip', 'country',
                     'birth_date', 'gender'] -%}
    {%- for key in fields -%}
        {%- if key not in names -%}
            {{ exceptions.raise_compiler_error("contact_fields_canonical_ctes: unknown field '" ~ key
                ~ "' (expected one of " ~ names | join(', ') ~ ")") }}
        {%- endif -%}
    {%- endfor -%}
{{ name }}__cleaned as (

    select
        {%- for column in keep %}
        {{ contacts }}.{{ column }},
        {%- endfor %}
        {%- for key in names %}
        {{ contact_field_column(contacts, fields, key) }} as raw_{{ key }},
        {%- endfor %}
        {{ lookup_key(contact_field_column(contacts, fields, 'country')) }} as country_lookup_key,
        {{ birth_date_iso_text(contact_field_column(contacts, fields, 'birth_date')) }} as birth_date_iso_text,
        {{ birth_date_precision(contact_field_column(contacts, fields, 'birth_date')) }} as birth_date_precision_if_valid,
        {{ phone_digits(contact_field_column(contacts, fields, 'phone')) }} as phone_digits,
        {{ phone_is_international(contact_field_column(contacts, fields, 'phone')) }} as is_phone_international,
        -- 'F-75011', 'L-1234': a country letter in front of the postal code
        regexp_replace({{ clean_text(contact_field_column(contacts, fields, 'zip')) }}, '^[A-Za-z]{1,2}-(?=[0-9])', '') as zip_cleaned
    from {{ contacts }}
    -- 'offset 0' keeps this step a separate subquery, so each regex-heavy column above is computed
    -- once per row (later steps refer to it many times) and only when a query reads it
    offset 0

),

-- one row, computed once (not re-filtered for every contact)
{{ name }}__default_country as materialized (

    select * from {{ country_names }}
    where country_lookup_key = lower('{{ var("default_country_iso2", "FR") }}')

),

{{ name }}__with_country as (

    select
        cleaned.*,
        country_names.country_code,
        country_names.zip_length,
        coalesce(country_names.country_code, default_country.country_code) as phone_country_code,
        coalesce(country_names.calling_code, default_country.calling_code) as phone_calling_code,
        case
            when country_names.country_code is not null then country_names.trunk_prefix
            else default_country.trunk_prefix
        end as phone_trunk_prefix,
        coalesce(country_names.phone_nsn_min, default_country.phone_nsn_min) as phone_nsn_min,
        coalesce(country_names.phone_nsn_max, default_country.phone_nsn_max) as phone_nsn_max
    from {{ name }}__cleaned as cleaned
    left join {{ country_names }} as country_names
        on cleaned.country_lookup_key = country_names.country_lookup_key
    left join {{ name }}__default_country as default_country
        on true

),

{{ name }}{{ '__values' if with_reasons else '' }} as (

    select
        {%- for column in keep %}
        {{ column }},
        {%- endfor %}
        {{ normalise_email('raw_email') }} as email,
        {{ normalise_phone(
            'phone_digits', 'is_phone_international', 'phone_calling_code', 'phone_trunk_prefix',
            'phone_nsn_min', 'phone_nsn_max'
        ) }} as phone_e164_digits,
        {{ clean_text('raw_first_name') }} as first_name,
        {{ clean_text('raw_last_name') }} as last_name,
        {{ date_from_iso_text('birth_date_iso_text') }} as birth_date,
        birth_date_precision_if_valid,
        {{ clean_text('raw_birth_date') }} is not null as has_birth_date_text,
        {{ normalise_gender('raw_gender') }} as gender,
        -- all-digit postal codes that lost their leading zero in a spreadsheet (01000 -> 1000)
        case
            when zip_cleaned ~ '^[0-9]+$' and length(zip_cleaned) = zip_length - 1
                then lpad(zip_cleaned, zip_length, '0')
            else zip_cleaned
        end as zip,
        {{ clean_text('raw_city') }} as city,
        {{ clean_text('raw_state') }} as state,
        country_code,
        phone_country_code
        {%- if with_reasons %},
        raw_email,
        raw_phone,
        raw_country,
        raw_birth_date,
        raw_gender,
        birth_date_iso_text,
        phone_digits,
        is_phone_international,
        phone_calling_code
        {%- endif %}
    from {{ name }}__with_country
    offset 0  -- birth_date is read several times by the models after this: compute it once

)
{%- if with_reasons %},

{{ name }} as (

    select
        {%- for column in keep %}
        {{ column }},
        {%- endfor %}
        email,
        phone_e164_digits,
        first_name,
        last_name,
        birth_date,
        birth_date_precision_if_valid,
        has_birth_date_text,
        gender,
        zip,
        city,
        state,
        country_code,
        phone_country_code,
        case
            when {{ clean_text('raw_email') }} is not null and email is null then 'not an email address'
        end as email_reason,
        case
            when {{ clean_text('raw_phone') }} is null or phone_e164_digits is not null then null
            when phone_digits is null then 'not a phone number (letters, symbols or no digits)'
            when is_phone_international
                and not coalesce(starts_with({{ phone_international_digits('phone_digits') }}, phone_calling_code), false)
                then 'not a valid international phone number'
            when phone_calling_code is null then 'national number without a known country'
            else 'not a valid phone number for ' || phone_country_code
        end as phone_reason,
        case
            when {{ clean_text('raw_country') }} is not null and country_code is null then 'unknown country'
        end as country_reason,
        case
            when has_birth_date_text and birth_date is null
                then {{ birth_date_reason('raw_birth_date', 'birth_date_iso_text') }}
        end as birth_date_reason,
        case
            when {{ clean_text('raw_gender') }} is not null and gender is null then 'gender not m or f'
        end as gender_reason
    from {{ name }}__values

)
{%- endif %}
{%- endmacro %}


{#- The raw column of a field (null when the field is not given): for the first step only. -#}
{% macro contact_field_column(contacts, fields, key) -%}
    {{ (contacts ~ '.' ~ fields[key]) if fields.get(key) else 'null::text' }}
{%- endmacro %}


{#-
    Stage 2: canonical values -> a platform's keys.

    canonical  relation or CTE with the columns stage 1 gives (email, phone_e164_digits, first_name,
               last_name, city, zip, country_code, birth_date, gender; state when 'ST' is asked for;
               the *_reason columns when with_reasons)
    platform   'facebook': extern_id (not hashed) and <key>_sha256 for each of `keys` (lower-case hex
               SHA-256 of the value normalised per Meta's rules, '' when missing);
               'linkedin': sha256_email, first_name, last_name, country (ISO2, upper case), what a
               DMP segment user element takes (names in plain text, as LinkedIn asks)
    extern_id  SQL expression of EXTERN_ID (Facebook)
    keys       Facebook keys to produce (default: all of Meta's multi-key schema we fill, with ST)
    Output (CTE `name`): keep, the keys, and with with_reasons a jsonb object `reasons`
    {key: why a value that was given is empty}.
-#}
{% macro platform_identifiers_ctes(name, canonical, platform, extern_id='null::text', keys=none, keep=[], with_reasons=false) -%}
    {%- set facebook_keys = ['EMAIL', 'PHONE', 'FN', 'LN', 'CT', 'ST', 'ZIP', 'COUNTRY', 'DOBY', 'GEN'] -%}
    {%- set keys = facebook_keys if keys is none else keys -%}
    {%- set normalised = {
        'EMAIL': 'lower(btrim(email))',
        'PHONE': "ltrim(phone_e164_digits, '0')",
        'FN': meta_normalise_name('first_name'),
        'LN': meta_normalise_name('last_name'),
        'CT': meta_normalise_city('city'),
        'ST': meta_normalise_state('state', 'country_code'),
        'ZIP': meta_normalise_zip('zip', 'country_code'),
        'COUNTRY': 'lower(country_code)',
        'DOBY': "to_char(birth_date, 'YYYY')",
        'GEN': 'gender',
    } -%}
    {%- set canonical_column = {
        'EMAIL': 'email', 'PHONE': 'phone_e164_digits', 'FN': 'first_name', 'LN': 'last_name',
        'CT': 'city', 'ST': 'state', 'ZIP': 'zip', 'COUNTRY': 'country_code', 'DOBY': 'birth_date',
        'GEN': 'gender',
    } -%}
    {#- why stage 2 may empty a value stage 1 kept (the other keys never lose a value here) -#}
    {%- set stage_two_reason = {
        'FN': "'name has no letters'",
        'LN': "'name has no letters'",
        'CT': "'city has no letters'",
        'ST': "case when upper(country_code) = 'US' then 'not a two-letter US state code' else 'state has no letters' end",
        'ZIP': "case when upper(country_code) = 'US' then 'US ZIP code has no digits' else 'postal code has no letters or digits' end",
    } -%}
    {%- set stage_one_reason = {
        'EMAIL': 'email_reason', 'PHONE': 'phone_reason', 'COUNTRY': 'country_reason',
        'DOBY': 'birth_date_reason', 'GEN': 'gender_reason',
    } -%}
    {%- if platform not in ['facebook', 'linkedin'] -%}
        {{ exceptions.raise_compiler_error("platform_identifiers_ctes: platform must be 'facebook' or 'linkedin', not '" ~ platform ~ "'") }}
    {%- endif -%}
    {%- for key in keys -%}
        {%- if key not in facebook_keys -%}
            {{ exceptions.raise_compiler_error("platform_identifiers_ctes: unknown Facebook key '" ~ key ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
{%- if platform == 'facebook' -%}
{{ name }}__normalised as (

    select
        {%- for column in keep %}
        {{ column }},
        {%- endfor %}
        {{ extern_id }} as extern_id,
        {%- for key in keys %}
        {{ normalised[key] }} as {{ key | lower }}_normalised{{ ',' if not loop.last or with_reasons }}
        {%- endfor %}
        {%- if with_reasons %}
        jsonb_strip_nulls(jsonb_build_object(
            {%- for key in keys %}
            '{{ key }}',
            {%- if key in stage_one_reason %}
            {{ stage_one_reason[key] }}{{ ',' if not loop.last }}
            {%- else %}
            case
                when {{ canonical_column[key] }} is not null and {{ normalised[key] }} is null
                    then {{ stage_two_reason[key] }}
            end{{ ',' if not loop.last }}
            {%- endif %}
            {%- endfor %}
        )) as reasons
        {%- endif %}
    from {{ canonical }}

),

{{ name }} as (

    select
        {%- for column in keep %}
        {{ column }},
        {%- endfor %}
        extern_id,
        {%- for key in keys %}
        {{ sha256_hex_or_empty(key | lower ~ '_normalised') }} as {{ key | lower }}_sha256{{ ',' if not loop.last or with_reasons }}
        {%- endfor %}
        {%- if with_reasons %}
        reasons
        {%- endif %}
    from {{ name }}__normalised

)
{%- else -%}
{{ name }} as (

    select
        {%- for column in keep %}
        {{ column }},
        {%- endfor %}
        {{ sha256_hex_or_empty('lower(btrim(email))') }} as sha256_email,
        coalesce(first_name, '') as first_name,
        coalesce(last_name, '') as last_name,
        coalesce(upper(country_code), '') as country
        {%- if with_reasons %},
        jsonb_strip_nulls(jsonb_build_object(
            'SHA256_EMAIL', email_reason,
            'country', country_reason
        )) as reasons
        {%- endif %}
    from {{ canonical }}

)
{%- endif -%}
{%- endmacro %}
