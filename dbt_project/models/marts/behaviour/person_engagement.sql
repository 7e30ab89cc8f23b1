-- Engagement score over the var engagement_window_days (30) days before as_of_date:
--   visits x engagement_weight_visit + add-to-carts x engagement_weight_add_to_cart
--   + purchases x engagement_weight_purchase - cart abandons x engagement_weight_abandon
-- (1, 3, 5, 2 by default). Tier: 'hot' above engagement_hot_above (10), 'warm' above
-- engagement_warm_above (5), else 'cold'. Visits as in person_funnel. Every person has a row.
{%- set window_start = behaviour_window_start(var('engagement_window_days') | int) %}
with

persons as (

    select person_id from {{ ref('persons') }}

),

events as (

    select * from {{ ref('int_web_events__attributed') }}
    where person_id is not null and event_at >= {{ window_start }}

),

per_person as (

    select
        person_id,
        count(distinct visit_id) as visits,
        count(*) filter (where event_name = 'AddToCart') as add_to_carts,
        count(*) filter (where event_name = 'Purchase') as purchases,
        count(*) filter (where event_name = 'CartAbandon') as abandons
    from events
    group by person_id

),

scored as (

    select
        persons.person_id,
        coalesce(per_person.visits, 0) as visits,
        coalesce(per_person.add_to_carts, 0) as add_to_carts,
        coalesce(per_person.purchases, 0) as purchases,
        coalesce(per_person.abandons, 0) as abandons
    from persons
    left join per_person
        on persons.person_id = per_person.person_id

),

weighted as (

    select
        scored.*,
        (
            visits * {{ var('engagement_weight_visit') | float }}
            + add_to_carts * {{ var('engagement_weight_add_to_cart') | float }}
            + purchases * {{ var('engagement_weight_purchase') | float }}
            - abandons * {{ var('engagement_weight_abandon') | float }}
        )::numeric(12, 2) as engagement_score
    from scored

)

select
    person_id,
    engagement_score,
    case
        when engagement_score > {{ var('engagement_hot_above') | float }} then 'hot'
        when engagement_score > {{ var('engagement_warm_above') | float }} then 'warm'
        else 'cold'
    end as engagement_tier,
    visits,
    add_to_carts,
    purchases,
    abandons,
    {{ var('engagement_window_days') | int }} as engagement_window_days
from weighted
