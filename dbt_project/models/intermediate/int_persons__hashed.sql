-- Each person's identifiers normalised per Meta's customer-list rules and hashed with SHA-256
-- (lower-case hex; '' when missing). EXTERN_ID is the person id, sent unhashed.
with

persons as (

    select * from {{ ref('int_persons__normalised') }}

),

normalised as (

    select
        person_id,
        lower(btrim(email)) as email_normalised,
        ltrim(phone_e164_digits, '0') as phone_normalised,
        {{ meta_normalise_name('first_name') }} as first_name_normalised,
        {{ meta_normalise_name('last_name') }} as last_name_normalised,
        {{ meta_normalise_city('city') }} as city_normalised,
        {{ meta_normalise_zip('zip', 'country_code') }} as zip_normalised,
        lower(country_code) as country_normalised,
        to_char(birth_date, 'YYYY') as birth_year_normalised,
        gender as gender_normalised
    from persons

),

hashed as (

    select
        person_id,
        person_id as extern_id,
        {{ sha256_hex_or_empty('email_normalised') }} as email_sha256,
        {{ sha256_hex_or_empty('phone_normalised') }} as phone_sha256,
        {{ sha256_hex_or_empty('first_name_normalised') }} as fn_sha256,
        {{ sha256_hex_or_empty('last_name_normalised') }} as ln_sha256,
        {{ sha256_hex_or_empty('city_normalised') }} as ct_sha256,
        {{ sha256_hex_or_empty('zip_normalised') }} as zip_sha256,
        {{ sha256_hex_or_empty('country_normalised') }} as country_sha256,
        {{ sha256_hex_or_empty('birth_year_normalised') }} as doby_sha256,
        {{ sha256_hex_or_empty('gender_normalised') }} as gen_sha256
    from normalised

)

select * from hashed
