-- Who should be in each synced audience, with the identifiers Meta matches on (hashed).
-- 'consenting_adults': marketing consent given, no erasure request, aged var audience_min_age or
-- more, and reachable (an email or a phone hash). Consent is checked here, at the edge, so a
-- withdrawal removes the person at the next sync.
with

persons as (

    select * from {{ ref('persons') }}

),

hashed_identifiers as (

    select * from {{ ref('int_persons__hashed') }}

),

consenting_adults as (

    select
        'consenting_adults'::text as audience_key,
        person_id
    from persons
    where has_marketing_consent
        and not is_erasure_requested
        and age >= {{ var('audience_min_age', 18) }}

),

memberships as (

    select * from consenting_adults

),

members as (

    select
        memberships.audience_key,
        memberships.person_id,
        hashed_identifiers.extern_id,
        hashed_identifiers.email_sha256,
        hashed_identifiers.phone_sha256,
        hashed_identifiers.fn_sha256,
        hashed_identifiers.ln_sha256,
        hashed_identifiers.ct_sha256,
        hashed_identifiers.zip_sha256,
        hashed_identifiers.country_sha256,
        hashed_identifiers.doby_sha256,
        hashed_identifiers.gen_sha256
    from memberships
    inner join hashed_identifiers
        on memberships.person_id = hashed_identifiers.person_id

)

select * from members
where email_sha256 <> '' or phone_sha256 <> ''
