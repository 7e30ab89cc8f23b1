-- One row per pixel event before as_of_date (int_web_events__visits) with the person its HubSpot
-- contact is: contacts map to persons through person_source_ids, one row per (source, source_id),
-- so each event keeps exactly one row.
--
-- A table, analysed once built: five marts and the audiences with event rules read it. As a view,
-- the planner, without statistics, had joined it to person_source_ids in a nested loop, quadratic
-- in the events (README, Benchmark).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}

with

visits as (

    select * from {{ ref('int_web_events__visits') }}

),

hubspot_persons as (

    select source_id as hubspot_contact_id, person_id
    from {{ ref('person_source_ids') }}
    where source = 'hubspot'

)

select
    visits.event_id,
    hubspot_persons.person_id,
    visits.anonymous_id,
    visits.event_name,
    visits.page_path,
    visits.event_at,
    visits.value_eur,
    visits.hubspot_contact_id,
    visits.attribution_method,
    visits.visit_id,
    visits.is_visit_start,
    visits.visit_previous_event_at,
    visits.visit_next_event_name
from visits
left join hubspot_persons
    on visits.hubspot_contact_id = hubspot_persons.hubspot_contact_id
