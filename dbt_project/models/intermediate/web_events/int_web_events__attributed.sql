-- Each web event with the person it belongs to: its HubSpot contact id through person_source_ids,
-- else its anonymous id when that browser identified itself as exactly one person in another event.
-- Minimal version owned by the behaviour area (it replaces this file at merge, same columns).
with

events as (

    select * from {{ ref('stg_web_events__events') }}

),

source_ids as (

    select * from {{ ref('person_source_ids') }}
    where source = 'hubspot'

),

identified as (

    select
        events.*,
        source_ids.person_id as identified_person_id
    from events
    left join source_ids on events.contact_id = source_ids.source_id

),

anonymous_ids as (

    select
        anonymous_id,
        min(identified_person_id) as person_id
    from identified
    where anonymous_id is not null and identified_person_id is not null
    group by anonymous_id
    having count(distinct identified_person_id) = 1

)

select
    identified.event_id,
    coalesce(identified.identified_person_id, anonymous_ids.person_id) as person_id,
    identified.anonymous_id,
    identified.event_name,
    identified.page_path,
    identified.url,
    identified.event_at,
    case when identified.currency = 'EUR' or identified.currency is null then identified.value end as value_eur
from identified
left join anonymous_ids on identified.anonymous_id = anonymous_ids.anonymous_id
