-- Who should be in each synced audience, with the identifiers Meta matches on (hashed).
-- The audiences are the catalogue's (audiences/*.yml, compiled into generated/aud_*.sql and unioned in
-- audience_memberships). Whatever an audience's rules say, only people with marketing consent, no
-- erasure request, aged var audience_min_age or more and reachable (an email or a phone hash) are
-- members: consent is checked here, at the edge, so a withdrawal removes the person at the next sync.
with

persons as (

    select * from {{ ref('persons') }}

),

hashed_identifiers as (

    select * from {{ ref('int_persons__hashed') }}

),

memberships as (

    select * from {{ ref('audience_memberships') }}

),

addressable as (

    select person_id
    from persons
    where has_marketing_consent
        and not is_erasure_requested
        and age >= {{ var('audience_min_age', 18) }}

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
    inner join addressable
        on memberships.person_id = addressable.person_id
    inner join hashed_identifiers
        on memberships.person_id = hashed_identifiers.person_id

)

select * from members
where email_sha256 <> '' or phone_sha256 <> ''
