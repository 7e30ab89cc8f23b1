-- One row per loaded version of a Salesforce opportunity: fields renamed and cast, nothing else.
with

source as (

    select * from {{ source('salesforce', 'opportunities') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')) as opportunity_version_id,
        _record_id as salesforce_opportunity_id,
        _batch_id as batch_id,

        nullif(payload ->> 'ContactId', '') as salesforce_contact_id,
        payload ->> 'Name' as opportunity_name,
        payload ->> 'StageName' as stage_name,
        {{ numeric_or_null("payload ->> 'Amount'") }} as amount,
        upper(nullif(payload ->> 'CurrencyIsoCode', '')) as currency_code,
        (payload ->> 'CloseDate')::date as close_on,
        coalesce({{ text_to_boolean("payload ->> 'IsWon'") }}, false) as is_won,
        coalesce({{ text_to_boolean("payload ->> 'IsClosed'") }}, false) as is_closed,
        coalesce({{ text_to_boolean("payload ->> 'IsDeleted'") }}, false) as is_deleted,

        (payload ->> 'CreatedDate')::timestamptz as created_at,
        coalesce(_updated_at, (payload ->> 'SystemModstamp')::timestamptz) as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
