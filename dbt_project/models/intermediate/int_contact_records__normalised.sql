-- One row per live source record (HubSpot, Salesforce Contact and Lead, file drop), every attribute
-- cleaned and typed the same way whatever its source: email and phone in canonical form (the keys
-- identity resolution matches on), birth date parsed, gender and country mapped to codes.
with

contacts as (

    select * from {{ ref('int_contact_records__unioned') }}

),

country_names as (

    select * from {{ ref('int_country_names__unpivoted') }}

),

-- one row, computed once (not re-filtered for every contact)
default_country as materialized (

    select * from country_names
    where country_lookup_key = lower('{{ var("default_country_iso2", "FR") }}')

),

cleaned as (

    select
        contacts.*,
        {{ lookup_key('contacts.country_text') }} as country_lookup_key,
        {{ birth_date_iso_text('contacts.birth_date_text') }} as birth_date_iso_text,
        {{ birth_date_precision('contacts.birth_date_text') }} as birth_date_precision_if_valid,
        {{ phone_digits('contacts.phone') }} as phone_digits,
        {{ phone_is_international('contacts.phone') }} as is_phone_international,
        -- 'F-75011', 'L-1234': a country letter in front of the postal code
        regexp_replace({{ clean_text('contacts.zip') }}, '^[A-Za-z]{1,2}-(?=[0-9])', '') as zip_cleaned
    from contacts
    -- 'offset 0' keeps this step a separate subquery, so each regex-heavy column above is computed
    -- once per row (later steps refer to it many times) and only when a query reads it
    offset 0

),

with_country as (

    -- national phone numbers are read in the record's country, else in var default_country_iso2
    select
        cleaned.*,
        country_names.country_code,
        country_names.zip_length,
        coalesce(country_names.calling_code, default_country.calling_code) as phone_calling_code,
        case
            when country_names.country_code is not null then country_names.trunk_prefix
            else default_country.trunk_prefix
        end as phone_trunk_prefix,
        coalesce(country_names.phone_nsn_min, default_country.phone_nsn_min) as phone_nsn_min,
        coalesce(country_names.phone_nsn_max, default_country.phone_nsn_max) as phone_nsn_max
    from cleaned
    left join country_names
        on cleaned.country_lookup_key = country_names.country_lookup_key
    left join default_country
        on true

),

final as (

    select
        record_key,
        source,
        source_id,

        {{ normalise_email('email') }} as email,
        {{ normalise_phone(
            'phone_digits', 'is_phone_international', 'phone_calling_code', 'phone_trunk_prefix',
            'phone_nsn_min', 'phone_nsn_max'
        ) }} as phone_e164_digits,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,

        {{ date_from_iso_text('birth_date_iso_text') }} as birth_date,
        birth_date_precision_if_valid,
        {{ clean_text('birth_date_text') }} is not null as has_birth_date_text,
        {{ normalise_gender('gender_text') }} as gender,

        -- all-digit postal codes that lost their leading zero in a spreadsheet (01000 -> 1000)
        case
            when zip_cleaned ~ '^[0-9]+$' and length(zip_cleaned) = zip_length - 1
                then lpad(zip_cleaned, zip_length, '0')
            else zip_cleaned
        end as zip,
        {{ clean_text('city') }} as city,
        country_code,
        lower({{ clean_text('language') }}) as language,

        has_marketing_consent,
        is_erasure_requested,
        linked_record_key,

        created_at,
        updated_at,
        version_count
    from with_country
    offset 0  -- birth_date is read four times below: compute it once

)

select
    record_key,
    source,
    source_id,
    email,
    phone_e164_digits,
    first_name,
    last_name,
    birth_date,
    case when birth_date is not null then birth_date_precision_if_valid end as birth_date_precision,
    has_birth_date_text and birth_date is null as is_birth_date_invalid,
    extract(year from age({{ as_of_date() }}, birth_date))::int as age,
    gender,
    zip,
    city,
    country_code,
    language,
    has_marketing_consent,
    is_erasure_requested,
    linked_record_key,
    created_at,
    updated_at,
    version_count
from final
