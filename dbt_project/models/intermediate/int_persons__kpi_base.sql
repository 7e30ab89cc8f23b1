-- One row per person: the segment keys KPIs are cut by, and the per-person facts KPIs add up
-- (activity, conversion, orders in the KPI window and in the window before it, CLV).
with

segments as (

    select * from {{ ref('person_segments') }}

),

personas as (

    select * from {{ ref('person_personas') }}

),

orders as (

    select * from {{ ref('int_orders__unioned') }}
    where person_id is not null

),

order_facts as (

    select
        person_id,
        count(*) filter (
            where ordered_at > {{ as_of_date() }} - {{ var('kpi_window_days', 90) }}
                and ordered_at <= {{ as_of_date() }} + 1
        ) as orders_in_window,
        coalesce(sum(amount_eur) filter (
            where ordered_at > {{ as_of_date() }} - {{ var('kpi_window_days', 90) }}
                and ordered_at <= {{ as_of_date() }} + 1
        ), 0) as revenue_in_window_eur,
        count(*) filter (
            where ordered_at > {{ as_of_date() }} - 2 * {{ var('kpi_window_days', 90) }}
                and ordered_at <= {{ as_of_date() }} - {{ var('kpi_window_days', 90) }}
        ) as orders_in_previous_window
    from orders
    group by person_id

)

select
    segments.person_id,
    segments.age_band,
    coalesce(segments.gender, 'unknown') as gender,
    coalesce(segments.engagement_tier, 'cold') as engagement_tier,
    coalesce(segments.rfm_segment, 'no_orders') as rfm_segment,
    coalesce(segments.interest_label, 'no_known_interest') as interest_label,
    coalesce(segments.urban_class, 'unknown') as urban_class,
    personas.persona_id,
    coalesce(segments.visits_30d, 0) > 0 as is_engaged,
    coalesce(segments.visits_90d, 0) > 0 as is_visitor,
    coalesce(segments.purchases_90d, 0) > 0 or coalesce(order_facts.orders_in_window, 0) > 0 as is_buyer,
    coalesce(order_facts.orders_in_window, 0) as orders_in_window,
    coalesce(order_facts.revenue_in_window_eur, 0) as revenue_in_window_eur,
    coalesce(order_facts.orders_in_previous_window, 0) > 0 as ordered_in_previous_window,
    coalesce(order_facts.orders_in_window, 0) > 0 and coalesce(order_facts.orders_in_previous_window, 0) > 0
        as is_retained,
    segments.clv_eur
from segments
left join personas
    on segments.person_id = personas.person_id
left join order_facts
    on segments.person_id = order_facts.person_id
