-- The latest version of each HubSpot contact: highest updatedAt, then the latest load, then the
-- latest batch (a re-load of the same version changes nothing). An erasure request seen on any
-- version is kept (is_erasure_ever_requested): a later edit cannot withdraw it.
with

contact_versions as (

    select * from {{ ref('stg_hubspot__contacts') }}

),

ranked as (

    select
        contact_versions.*,
        row_number() over (
            partition by hubspot_contact_id
            order by {{ latest_version_first('updated_at', 'contact_version_id') }}
        ) as version_rank,
        count(*) over (partition by hubspot_contact_id) as version_count,
        coalesce(bool_or(is_erasure_requested) over (partition by hubspot_contact_id), false)
            as is_erasure_ever_requested
    from contact_versions

)

select
    hubspot_contact_id,
    contact_version_id,
    batch_id,
    email,
    phone,
    first_name,
    last_name,
    birth_date_text,
    gender_text,
    zip,
    city,
    country_text,
    language,
    lifecycle_stage,
    has_marketing_consent,
    is_erasure_requested,
    is_archived,
    created_at,
    updated_at,
    loaded_at,
    version_count,
    is_erasure_ever_requested
from ranked
where version_rank = 1
