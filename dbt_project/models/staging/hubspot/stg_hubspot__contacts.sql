-- One row per loaded version of a HubSpot contact: properties renamed and cast, nothing else.
-- Versions are deduplicated downstream in int_hubspot_contacts__deduplicated.
with

source as (

    select * from {{ source('hubspot', 'contacts') }}

),

renamed as (

    select
        md5(
            _record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')
        ) as contact_version_id,
        _record_id as hubspot_contact_id,
        _batch_id as batch_id,

        payload -> 'properties' ->> 'email' as email,
        payload -> 'properties' ->> 'phone' as phone,
        payload -> 'properties' ->> 'firstname' as first_name,
        payload -> 'properties' ->> 'lastname' as last_name,
        payload -> 'properties' ->> 'date_of_birth' as birth_date_text,
        payload -> 'properties' ->> 'gender' as gender_text,
        payload -> 'properties' ->> 'zip' as zip,
        payload -> 'properties' ->> 'city' as city,
        payload -> 'properties' ->> 'country' as country_text,
        payload -> 'properties' ->> 'hs_language' as language,
        payload -> 'properties' ->> 'lifecyclestage' as lifecycle_stage,

        {{ text_to_boolean("payload -> 'properties' ->> 'marketing_consent'") }} as has_marketing_consent,
        {{ text_to_boolean("payload -> 'properties' ->> 'erasure_requested'") }} as is_erasure_requested,
        coalesce({{ text_to_boolean("payload ->> 'archived'") }}, false) as is_archived,

        (payload ->> 'createdAt')::timestamptz as created_at,
        coalesce(_updated_at, (payload ->> 'updatedAt')::timestamptz) as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
