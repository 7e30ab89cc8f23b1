-- RFM and customer-lifetime value from the orders placed before as_of_date (int_orders__unioned).
--
-- Scores are quintiles among persons with at least one order, 5 = best (most recent, most
-- orders, most spent): score = 1 + floor(5 x (rank - 1) / buyers), as ntile(5) would give, except
-- that ties share one score (the score of the tie's first place) instead of being split at random.
--
-- CLV (historical-rate model): average order value x orders per year x var clv_expected_lifetime_years,
-- orders per year = frequency / tenure, tenure = days since the first order, at least
-- var clv_min_tenure_days (so one recent order does not extrapolate to dozens a year), in years of 365 days.
--
-- Every person has a row; persons without an order have frequency 0, no scores, segment 'no_orders'.
with

persons as (

    select person_id from {{ ref('persons') }}

),

orders as (

    select * from {{ ref('int_orders__unioned') }}
    where person_id is not null
        and ordered_at < {{ behaviour_period_end() }}
        and amount_eur is not null

),

buyers as (

    select
        person_id,
        {{ as_of_date() }} - max(ordered_at at time zone 'UTC')::date as recency_days,
        {{ as_of_date() }} - min(ordered_at at time zone 'UTC')::date as tenure_days,
        count(*) as frequency,
        sum(amount_eur) as monetary_eur
    from orders
    group by person_id

),

ranked as (

    select
        buyers.*,
        count(*) over () as buyer_count,
        rank() over (order by recency_days desc) as recency_rank,
        rank() over (order by frequency) as frequency_rank,
        rank() over (order by monetary_eur) as monetary_rank
    from buyers

),

scored as (

    select
        ranked.*,
        1 + floor(5.0 * (recency_rank - 1) / buyer_count)::int as r_score,
        1 + floor(5.0 * (frequency_rank - 1) / buyer_count)::int as f_score,
        1 + floor(5.0 * (monetary_rank - 1) / buyer_count)::int as m_score
    from ranked

)

select
    persons.person_id,
    scored.recency_days,
    coalesce(scored.frequency, 0) as frequency,
    coalesce(scored.monetary_eur, 0)::numeric(14, 2) as monetary_eur,
    scored.r_score,
    scored.f_score,
    scored.m_score,
    case
        when scored.person_id is null then 'no_orders'
        when scored.r_score >= 4 and (scored.f_score + scored.m_score) >= 8 then 'champions'
        when scored.r_score >= 4 and scored.f_score = 1 then 'new'
        when scored.r_score >= 3 and (scored.f_score + scored.m_score) >= 6 then 'loyal'
        when scored.r_score >= 3 then 'promising'
        when (scored.f_score + scored.m_score) >= 6 then 'at_risk'
        when scored.r_score = 2 then 'hibernating'
        else 'lost'
    end as rfm_segment,
    coalesce(
        scored.monetary_eur / scored.frequency
        * scored.frequency / (greatest(scored.tenure_days, {{ var('clv_min_tenure_days') | int }}) / 365.0)
        * {{ var('clv_expected_lifetime_years') | float }},
        0
    )::numeric(14, 2) as clv_eur,
    scored.tenure_days
from persons
left join scored
    on persons.person_id = scored.person_id
