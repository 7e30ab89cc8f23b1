-- Ad delivery per Facebook age bracket × gender over the last var kpi_window_days, from the latest
-- load of each insight row: what CTR and CPC each demographic cell shows.
with

insights as (

    select * from {{ ref('stg_facebook__ad_insights') }}

),

latest as (

    select distinct on (ad_insight_id) *
    from insights
    where breakdown = 'age,gender'
    order by ad_insight_id, updated_at desc nulls last, loaded_at desc

),

in_window as (

    select *
    from latest
    where reported_on > {{ as_of_date() }} - {{ var('kpi_window_days', 90) }}
        and reported_on <= {{ as_of_date() }}

)

select
    age_bracket as age_band,
    case gender when 'female' then 'f' when 'male' then 'm' else 'unknown' end as gender,
    sum(impressions) as impressions,
    sum(clicks) as clicks,
    sum(spend) as spend
from in_window
group by 1, 2
