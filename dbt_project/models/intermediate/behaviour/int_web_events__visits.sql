-- One row per pixel event before as_of_date, attributed to a HubSpot contact, with its page path and
-- visit; int_web_events__attributed adds the person. The full URL is not kept: the staging view
-- has it.
--
-- Attribution: the event's own HubSpot contact id; else (var web_stitch_anonymous_ids) the one
-- contact its browser (anonymous_id) was identified as on other events. A browser seen with two
-- or more contacts stays anonymous.
--
-- Visits: a visit (session) is a run of one browser's events with no gap longer than var
-- visit_timeout_minutes (30); any event counts, not only page views.
--
-- Apart from the person (identity resolution) so that it is built beside the identity chain, not
-- after it: the windows over every event are the longest step of the build (README, Benchmark).
-- A table, analysed once built: as a view, each reader recomputed the windows over every event.
-- Its build indexes event_id as unique: a duplicate fails the build, and the unique test only
-- checks that the index is there (test unique_by_index), where it re-read every event.
{{ config(
    materialized='table',
    post_hook=['create unique index on {{ this }} (event_id)', 'analyze {{ this }}']
) }}

with

page_paths as (

    -- path without scheme, host, query or fragment; no trailing slash except for the home page.
    -- Once per distinct URL, not per event: the two regular expressions cost about 3 µs an event,
    -- a third of this model on the benchmark's world (README, Benchmark). A scan of its own: the
    -- events are read once more for their URLs rather than kept aside for three readers
    select
        url,
        coalesce(
            nullif(
                rtrim(regexp_replace(regexp_replace(url, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*', ''), '[?#].*$', ''), '/'),
                ''
            ),
            '/'
        ) as page_path
    from {{ ref('stg_web_events__events') }}
    where url is not null
    group by url

),

events as (

    select
        event_id,
        event_name,
        event_at,
        hubspot_contact_id,
        anonymous_id,
        page_path,
        value,
        currency_code,
        visitor_key,
        -- sorted on first: same groups as the key alone, but the sort compares integers where it
        -- compared text keys that all begin 'a:anon-'
        hashtext(visitor_key) as visitor_hash
    from (
        select
            stg.*,
            -- the path, not the URL, goes through the sorts below: 14 bytes an event where the URL
            -- took 38 on the benchmark's world, and the table is 19% smaller without the URL (the
            -- full URL stays in stg_web_events__events; README, Benchmark)
            coalesce(page_paths.page_path, '/') as page_path,
            -- the browser when known, else the contact, else the event alone
            coalesce('a:' || stg.anonymous_id, 'c:' || stg.hubspot_contact_id, 'e:' || stg.event_id) as visitor_key
        from {{ ref('stg_web_events__events') }} as stg
        left join page_paths
            on stg.url = page_paths.url
        where event_at < {{ behaviour_period_end() }}
    ) as keyed

),

windowed as (

    -- one sort of the events, by visitor and time, serves every window below. lag ignores the
    -- frame, so it shares the whole-partition window of min and max: one pass over the sorted
    -- events where two windows (one frame each) took two (85.5 s against 94.5 s of one core for
    -- this model's query at 1M, README, Benchmark)
    select
        events.*,
        lag(event_at) over visitor_events as previous_event_at
        {%- if var('web_stitch_anonymous_ids') %},
        -- a browser's contacts, over all its events: identified as exactly one when min = max
        min(hubspot_contact_id) over visitor_events as visitor_min_contact_id,
        max(hubspot_contact_id) over visitor_events as visitor_max_contact_id
        {%- endif %}
    from events
    window visitor_events as (
        partition by visitor_hash, visitor_key order by event_at, event_id
        rows between unbounded preceding and unbounded following
    )

),

attributed as (

    select
        windowed.event_id,
        windowed.event_name,
        windowed.event_at,
        windowed.anonymous_id,
        windowed.page_path,
        windowed.value,
        windowed.currency_code,
        windowed.visitor_key,
        windowed.visitor_hash,
        windowed.previous_event_at,
        {% if var('web_stitch_anonymous_ids') -%}
        coalesce(windowed.hubspot_contact_id, browser.hubspot_contact_id) as hubspot_contact_id,
        case
            when windowed.hubspot_contact_id is not null then 'event'
            when browser.hubspot_contact_id is not null then 'anonymous_id'
        end as attribution_method,
        {%- else -%}
        -- no stitching: an event is attributed by its own contact id only, and the browsers'
        -- contacts are not looked for (no windows over every event of each browser)
        windowed.hubspot_contact_id,
        case when windowed.hubspot_contact_id is not null then 'event' end as attribution_method,
        {%- endif %}
        (
            windowed.previous_event_at is null
            or windowed.event_at - windowed.previous_event_at
                > interval '{{ var("visit_timeout_minutes") | int }} minutes'
        ) as is_visit_start
    from windowed
    {% if var('web_stitch_anonymous_ids') -%}
    -- the browser's one contact (a browser seen with two or more stays anonymous)
    cross join lateral (
        select
            case
                when windowed.anonymous_id is not null
                    and windowed.visitor_min_contact_id = windowed.visitor_max_contact_id
                    then windowed.visitor_min_contact_id
            end as hubspot_contact_id
    ) as browser
    {%- endif %}

),

numbered as (

    select
        attributed.*,
        sum(case when is_visit_start then 1 else 0 end) over visitor_order as visit_number,
        -- the next event of the same visit (the visitor's next, unless a gap opens a new visit):
        -- event_transitions counts the steps of visits from these without sorting the events again
        case
            when lead(event_at) over visitor_order - event_at
                <= interval '{{ var("visit_timeout_minutes") | int }} minutes'
                then lead(event_name) over visitor_order
        end as visit_next_event_name
    from attributed
    window visitor_order as (
        partition by visitor_hash, visitor_key order by event_at, event_id rows unbounded preceding
    )

)

select
    numbered.event_id,
    numbered.anonymous_id,
    numbered.event_name,
    numbered.page_path,
    numbered.event_at,
    {{ to_eur('numbered.value', 'numbered.currency_code') }} as value_eur,
    numbered.hubspot_contact_id,
    numbered.attribution_method,
    md5(numbered.visitor_key || ':' || numbered.visit_number) as visit_id,
    numbered.is_visit_start,
    case when not numbered.is_visit_start then numbered.previous_event_at end as visit_previous_event_at,
    numbered.visit_next_event_name
from numbered
