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
        -- the ingest stores event_time, parsed, as _updated_at: read it rather than parse the text
        -- again on every read of this view (about 5 s per pass over 20M events)
        coalesce(_updated_at, (payload ->> 'event_time')::timestamptz) as event_at,
        nullif(payload ->> 'contact_id', '') as hubspot_contact_id,
        nullif(payload ->> 'anonymous_id', '') as anonymous_id,
        payload ->> 'url' as url,
        -- the ingest admits a JSON number or null; a number skips the text pattern check (a regular
        -- expression, about 0.5 µs a value), text that reads as a number is still taken
        case jsonb_typeof(payload -> 'value')
            when 'number' then
                case when abs((payload -> 'value')::numeric) < 1e9 then (payload -> 'value')::numeric(14, 2) end
            when 'string' then {{ numeric_or_null("payload ->> 'value'") }}
        end as value,
        upper(nullif(payload ->> 'currency', '')) as currency_code,

        _loaded_at as loaded_at

    from source

)

select * from renamed
