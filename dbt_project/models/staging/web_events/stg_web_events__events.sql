-- One row per pixel event: renamed and cast, nothing else.
-- Minimal version owned by the behaviour area (it replaces this file at merge, same columns).
with

source as (

    select * from {{ source('web_events', 'events') }}

),

renamed as (

    select
        _record_id as event_id,
        payload ->> 'contact_id' as contact_id,
        payload ->> 'anonymous_id' as anonymous_id,
        payload ->> 'event_name' as event_name,
        payload ->> 'url' as url,
        -- the URL's path: scheme, host, query and fragment dropped
        substring(payload ->> 'url' from '^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?([^?#]*)') as page_path,
        (payload ->> 'event_time')::timestamptz as event_at,
        (payload ->> 'value')::numeric as value,
        payload ->> 'currency' as currency
    from source

)

select * from renamed
