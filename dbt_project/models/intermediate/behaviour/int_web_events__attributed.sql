-- One row per pixel event before as_of_date, attributed to a person, with its page path and visit.
--
-- Attribution: the event's own HubSpot contact id; else (var web_stitch_anonymous_ids) the one
-- contact its browser (anonymous_id) was identified as on other events. A browser seen with two
-- or more contacts stays anonymous. Contacts map to persons through person_source_ids.
--
-- Visits: a visit (session) is a run of one browser's events with no gap longer than var
-- visit_timeout_minutes (30); any event counts, not only page views.
--
-- A table, analysed once built (as the identity chain; most intermediate models are views): five
-- marts and the audiences with event rules read it. As a view, each reader recomputed the windows over every
-- event, and the planner, without statistics on the view, estimated one row and joined it to
-- person_source_ids in a nested loop, quadratic in the events (see README, Benchmark).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}

with

events as (

    select * from {{ ref('stg_web_events__events') }}
    where event_at < {{ behaviour_period_end() }}

),

hubspot_persons as (

    select source_id as hubspot_contact_id, person_id
    from {{ ref('person_source_ids') }}
    where source = 'hubspot'

),

browser_contacts as (

    -- browsers identified as exactly one contact
    select
        anonymous_id,
        min(hubspot_contact_id) as hubspot_contact_id
    from events
    where anonymous_id is not null and hubspot_contact_id is not null
    group by anonymous_id
    -- one distinct contact: min = max (a hash aggregate, where count(distinct) sorts every event)
    having min(hubspot_contact_id) = max(hubspot_contact_id)

),

page_paths as (

    -- path without scheme, host, query or fragment; no trailing slash except for the home page.
    -- Once per distinct URL, not per event: the two regular expressions cost about 3 µs an event,
    -- a third of this model on the benchmark's world (README, Benchmark)
    select
        url,
        coalesce(
            nullif(
                rtrim(regexp_replace(regexp_replace(url, '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*', ''), '[?#].*$', ''), '/'),
                ''
            ),
            '/'
        ) as page_path
    from events
    where url is not null
    group by url

),

attributed as (

    select
        events.event_id,
        events.event_name,
        events.event_at,
        events.anonymous_id,
        events.url,
        events.value,
        events.currency_code,
        {% if var('web_stitch_anonymous_ids') -%}
        coalesce(events.hubspot_contact_id, browser_contacts.hubspot_contact_id) as hubspot_contact_id,
        case
            when events.hubspot_contact_id is not null then 'event'
            when browser_contacts.hubspot_contact_id is not null then 'anonymous_id'
        end as attribution_method,
        {%- else -%}
        events.hubspot_contact_id,
        case when events.hubspot_contact_id is not null then 'event' end as attribution_method,
        {%- endif %}
        -- the browser when known, else the contact, else the event alone
        coalesce(
            'a:' || events.anonymous_id, 'c:' || events.hubspot_contact_id, 'e:' || events.event_id
        ) as visitor_key
    from events
    left join browser_contacts
        on events.anonymous_id = browser_contacts.anonymous_id

),

gaps as (

    select
        attributed.*,
        lag(event_at) over (partition by visitor_key order by event_at, event_id) as previous_event_at
    from attributed

),

flagged as (

    select
        gaps.*,
        (
            previous_event_at is null
            or event_at - previous_event_at > interval '{{ var("visit_timeout_minutes") | int }} minutes'
        ) as is_visit_start
    from gaps

),

numbered as (

    select
        flagged.*,
        sum(case when is_visit_start then 1 else 0 end) over visitor_order as visit_number,
        -- the next event of the same visit (the visitor's next, unless a gap opens a new visit):
        -- event_transitions counts the steps of visits from these without sorting the events again
        case
            when lead(event_at) over visitor_order - event_at
                <= interval '{{ var("visit_timeout_minutes") | int }} minutes'
                then lead(event_name) over visitor_order
        end as visit_next_event_name
    from flagged
    window visitor_order as (partition by visitor_key order by event_at, event_id rows unbounded preceding)

)

select
    numbered.event_id,
    hubspot_persons.person_id,
    numbered.anonymous_id,
    numbered.event_name,
    coalesce(page_paths.page_path, '/') as page_path,
    numbered.url,
    numbered.event_at,
    {{ to_eur('numbered.value', 'numbered.currency_code') }} as value_eur,
    numbered.hubspot_contact_id,
    numbered.attribution_method,
    md5(numbered.visitor_key || ':' || numbered.visit_number) as visit_id,
    numbered.is_visit_start,
    case when not numbered.is_visit_start then numbered.previous_event_at end as visit_previous_event_at,
    numbered.visit_next_event_name
from numbered
left join hubspot_persons
    on numbered.hubspot_contact_id = hubspot_persons.hubspot_contact_id
left join page_paths
    on numbered.url = page_paths.url
