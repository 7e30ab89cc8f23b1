-- One row per person: every attribute an audience rule may test (audience.audiences.attributes lists
-- them, with their types), joined from the demographic, behavioural and psychographic marts.
-- Counts are 0 for people a mart has no row for; scores and labels stay null (unknown).
with

persons as (

    select * from {{ ref('persons') }}

),

demographics as (

    select * from {{ ref('person_demographics') }}

),

funnel as (

    select * from {{ ref('person_funnel') }}

),

engagement as (

    select * from {{ ref('person_engagement') }}

),

rfm as (

    select * from {{ ref('person_rfm') }}

),

next_action as (

    select * from {{ ref('person_next_action') }}

),

propensity as (

    select * from {{ ref('person_propensity') }}

),

psychographics as (

    select * from {{ ref('person_psychographics') }}

)

select
    persons.person_id,

    -- who
    coalesce(demographics.age, persons.age) as age,
    demographics.age_band,
    coalesce(nullif(demographics.gender, 'unknown'), persons.gender) as gender,
    coalesce(demographics.language, persons.language) as language,
    persons.country_code,
    persons.source_count,
    demographics.commune_code,
    demographics.commune_name,
    demographics.departement_code,
    demographics.region_code,
    demographics.region_name,
    demographics.nuts3_code,
    demographics.nuts2_code,
    demographics.urban_class,
    demographics.commune_income_decile,
    demographics.region_unemployment_rate,
    demographics.region_household_income_eur,

    -- what they do
    {%- for measure in ['visits', 'product_views', 'add_to_carts', 'checkouts', 'purchases', 'abandons'] %}
    {%- for days in [7, 30, 90] %}
    coalesce(funnel.{{ measure }}_{{ days }}d, 0) as {{ measure }}_{{ days }}d,
    {%- endfor %}
    {%- endfor %}
    funnel.last_event_at,
    funnel.days_since_last_event,
    engagement.engagement_score,
    engagement.engagement_tier,
    rfm.recency_days,
    coalesce(rfm.frequency, 0) as frequency,
    coalesce(rfm.monetary_eur, 0) as monetary_eur,
    rfm.r_score,
    rfm.f_score,
    rfm.m_score,
    rfm.rfm_segment,
    rfm.clv_eur,
    next_action.last_state,
    next_action.next_purchase_probability,
    propensity.purchase_propensity,
    propensity.propensity_decile,

    -- what they care about
    coalesce(psychographics.has_text, false) as has_text,
    psychographics.interest_cluster_id,
    psychographics.interest_cluster_name,
    psychographics.interest_label,
    coalesce(psychographics.comment_count, 0) as comment_count,
    psychographics.comment_language

from persons
left join demographics
    on persons.person_id = demographics.person_id
left join funnel
    on persons.person_id = funnel.person_id
left join engagement
    on persons.person_id = engagement.person_id
left join rfm
    on persons.person_id = rfm.person_id
left join next_action
    on persons.person_id = next_action.person_id
left join propensity
    on persons.person_id = propensity.person_id
left join psychographics
    on persons.person_id = psychographics.person_id
