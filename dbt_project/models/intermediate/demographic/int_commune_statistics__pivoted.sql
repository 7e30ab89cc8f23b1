-- One row per commune with its INSEE statistics, each from its latest reference year:
-- municipal population (legal population PMUN), median standard of living and poverty rate
-- (Filosofi MED_SL, PR_MD60).
with

population as (

    {{ latest_version_of_each_record(ref('stg_insee__population')) }}

),

income as (

    {{ latest_version_of_each_record(ref('stg_insee__income')) }}

),

municipal_population as (

    select distinct on (commune_code)
        {{ insee_geo_code('geo_code') }} as commune_code,
        population,
        reference_year
    from population
    where
        dataset_code = 'DS_POPULATIONS_REFERENCE'
        and popref_measure = 'PMUN'
        and {{ insee_geo_level('geo_code') }} = 'COM'
        and population is not null
    order by commune_code, reference_year desc

),

median_income as (

    select distinct on (commune_code)
        {{ insee_geo_code('geo_code') }} as commune_code,
        observed_value as median_income_eur,
        reference_year
    from income
    where income_measure = 'MED_SL' and {{ insee_geo_level('geo_code') }} = 'COM' and observed_value is not null
    order by commune_code, reference_year desc

),

poverty as (

    select distinct on (commune_code)
        {{ insee_geo_code('geo_code') }} as commune_code,
        observed_value as poverty_rate_pct
    from income
    where income_measure = 'PR_MD60' and {{ insee_geo_level('geo_code') }} = 'COM' and observed_value is not null
    order by commune_code, reference_year desc

),

communes as (

    select commune_code from municipal_population
    union
    select commune_code from median_income
    union
    select commune_code from poverty

)

select
    communes.commune_code,
    municipal_population.population::int as population,
    municipal_population.reference_year as population_year,
    median_income.median_income_eur,
    median_income.reference_year as income_year,
    poverty.poverty_rate_pct
from communes
left join municipal_population on communes.commune_code = municipal_population.commune_code
left join median_income on communes.commune_code = median_income.commune_code
left join poverty on communes.commune_code = poverty.commune_code
