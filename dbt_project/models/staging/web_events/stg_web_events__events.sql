-- One row per pixel event: payload fields renamed and cast, nothing else.
-- Attribution to persons, page paths and sessions are in int_web_events__attributed.
with

source as (

    select * from {{ source('web_events', 'events') }}

),

renamed as (

    select
        _record_id as event_id,
        _batch_id as batch_id,

        payload ->> 'event_name' as event_name,
        (payload ->> 'event_time')::timestamptz as event_at,
        nullif(payload ->> 'contact_id', '') as hubspot_contact_id,
        nullif(payload ->> 'anonymous_id', '') as anonymous_id,
        payload ->> 'url' as url,
        {{ numeric_or_null("payload ->> 'value'") }} as value,
        upper(nullif(payload ->> 'currency', '')) as currency_code,

        _loaded_at as loaded_at

    from source

)

select * from renamed
