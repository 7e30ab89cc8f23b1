-- The personas: one row per persona (see person_personas for how people are assigned), with its
-- size, its KPIs and a generated one-line description a marketer can read.
with

person_personas as (

    select * from {{ ref('person_personas') }}

),

kpis as (

    select * from {{ ref('segment_kpis') }}
    where segment_type = 'persona'

),

sized as (

    select
        persona_id,
        min(persona_level) as persona_level,
        min(age_band) as age_band,
        min(engagement_tier) as engagement_tier,
        min(interest_label) as interest_label,
        count(*) as persona_size
    from person_personas
    group by persona_id

),

described as (

    select
        sized.*,
        kpis.engagement_rate,
        kpis.conversion_rate,
        kpis.aov_eur,
        kpis.avg_clv_eur,
        kpis.retention_rate,
        kpis.ctr,
        kpis.cpc,
        case
            when sized.age_band is null then 'Everyone not in a larger persona'
            else 'Aged ' || replace(sized.age_band, '-', '–')
                || coalesce(', ' || sized.engagement_tier || ' engagement', '')
                || coalesce(
                    case
                        when sized.interest_label = 'no_known_interest' then ', no known interest'
                        else ', into ' || replace(sized.interest_label, '_', ' ')
                    end,
                    ''
                )
        end
        || ': ' || sized.persona_size || ' people'
        || coalesce('; ' || round(100 * kpis.engagement_rate) || '% active in 30 days', '')
        || coalesce('; ' || round(100 * kpis.conversion_rate) || '% of visitors bought', '')
        || coalesce('; average order €' || round(kpis.aov_eur), '')
        || '.' as description
    from sized
    left join kpis
        on sized.persona_id = kpis.segment_value

)

select
    persona_id,
    persona_level,
    age_band,
    engagement_tier,
    interest_label,
    persona_size,
    persona_size < {{ var('persona_min_size', 50) }} as is_below_min_size,
    engagement_rate,
    conversion_rate,
    aov_eur,
    avg_clv_eur,
    retention_rate,
    ctr,
    cpc,
    description
from described
