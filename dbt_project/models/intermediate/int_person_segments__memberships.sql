-- The segment memberships whose history the snapshot keeps: one row per person.
with

segments as (

    select * from {{ ref('person_segments') }}

),

personas as (

    select * from {{ ref('person_personas') }}

)

select
    segments.person_id,
    segments.age_band,
    segments.engagement_tier,
    segments.rfm_segment,
    segments.interest_label,
    segments.propensity_decile,
    personas.persona_id
from segments
left join personas
    on segments.person_id = personas.person_id
