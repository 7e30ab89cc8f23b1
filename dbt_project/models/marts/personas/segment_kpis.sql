-- KPIs per segment and per persona, one row per (segment_type, segment_value), over the last
-- var kpi_window_days:
--   engagement_rate  share of the segment with a visit in the last 30 days
--   conversion_rate  buyers in the window / visitors in the window (web visitors who bought)
--   aov_eur          revenue / orders in the window
--   avg_clv_eur      mean CLV estimate of the segment's customers
--   retention_rate   of those who ordered in the previous window, the share who ordered again
--   ctr, cpc         Facebook ads: clicks / impressions and spend / clicks, for the segment's age
--                    band and gender cells (segments cut by age band, gender or persona only)
{%- set segment_types = ['age_band', 'gender', 'engagement_tier', 'rfm_segment', 'interest_label', 'urban_class', 'persona_id'] %}
with

base as (

    select * from {{ ref('int_persons__kpi_base') }}

),

ads as (

    select * from {{ ref('int_ad_insights__by_age_gender') }}

),

cut as (

    {%- for segment_type in segment_types %}
    select
        '{{ "persona" if segment_type == "persona_id" else segment_type }}'::text as segment_type,
        {{ segment_type }}::text as segment_value,
        count(*) as persons,
        avg(case when is_engaged then 1.0 else 0.0 end) as engagement_rate,
        case
            when count(*) filter (where is_visitor) = 0 then null
            else (count(*) filter (where is_visitor and is_buyer))::numeric / count(*) filter (where is_visitor)
        end as conversion_rate,
        case
            when sum(orders_in_window) = 0 then null
            else sum(revenue_in_window_eur) / sum(orders_in_window)
        end as aov_eur,
        avg(clv_eur) filter (where clv_eur is not null) as avg_clv_eur,
        case
            when count(*) filter (where ordered_in_previous_window) = 0 then null
            else (count(*) filter (where is_retained))::numeric
                / count(*) filter (where ordered_in_previous_window)
        end as retention_rate
    from base
    where {{ segment_type }} is not null
    group by {{ segment_type }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

-- ad KPIs of a segment: the ads' age × gender cells weighted by the segment's own people in them
segment_cells as (

    {%- for segment_type in ['age_band', 'gender', 'persona_id'] %}
    select
        '{{ "persona" if segment_type == "persona_id" else segment_type }}'::text as segment_type,
        {{ segment_type }}::text as segment_value,
        age_band,
        gender,
        count(*) as persons_in_cell
    from base
    where {{ segment_type }} is not null
    group by {{ segment_type }}, age_band, gender
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

ad_kpis as (

    select
        segment_cells.segment_type,
        segment_cells.segment_value,
        sum(ads.impressions * segment_cells.persons_in_cell) as weighted_impressions,
        sum(ads.clicks * segment_cells.persons_in_cell) as weighted_clicks,
        sum(ads.spend * segment_cells.persons_in_cell) as weighted_spend
    from segment_cells
    inner join ads
        on segment_cells.age_band = ads.age_band
        and segment_cells.gender = ads.gender
    group by 1, 2

)

select
    cut.segment_type,
    cut.segment_value,
    cut.persons,
    round(cut.engagement_rate, 4) as engagement_rate,
    round(cut.conversion_rate, 4) as conversion_rate,
    round(cut.aov_eur, 2) as aov_eur,
    round(cut.avg_clv_eur, 2) as avg_clv_eur,
    round(cut.retention_rate, 4) as retention_rate,
    case
        when ad_kpis.weighted_impressions > 0
            then round(ad_kpis.weighted_clicks::numeric / ad_kpis.weighted_impressions, 5)
    end as ctr,
    case
        when ad_kpis.weighted_clicks > 0 then round(ad_kpis.weighted_spend / ad_kpis.weighted_clicks, 4)
    end as cpc
from cut
left join ad_kpis
    on cut.segment_type = ad_kpis.segment_type
    and cut.segment_value = ad_kpis.segment_value
