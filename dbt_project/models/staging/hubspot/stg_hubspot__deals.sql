-- One row per loaded version of a HubSpot deal: properties renamed and cast, nothing else.
with

source as (

    select * from {{ source('hubspot', 'deals') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')) as deal_version_id,
        _record_id as hubspot_deal_id,
        _batch_id as batch_id,

        nullif(payload -> 'properties' ->> 'contact_id', '') as hubspot_contact_id,
        payload -> 'properties' ->> 'dealname' as deal_name,
        payload -> 'properties' ->> 'pipeline' as pipeline,
        payload -> 'properties' ->> 'dealstage' as deal_stage,
        {{ numeric_or_null("payload -> 'properties' ->> 'amount'") }} as amount,
        upper(nullif(payload -> 'properties' ->> 'deal_currency_code', '')) as currency_code,
        (nullif(payload -> 'properties' ->> 'closedate', ''))::timestamptz as closed_at,
        coalesce({{ text_to_boolean("payload ->> 'archived'") }}, false) as is_archived,

        (payload ->> 'createdAt')::timestamptz as created_at,
        coalesce(_updated_at, (payload ->> 'updatedAt')::timestamptz) as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
