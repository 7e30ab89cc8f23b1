-- One row per French commune with everything a person inherits from where they live: names and
-- codes up the hierarchy (département, région, NUTS-3, NUTS-2), density class, income decile and
-- the NUTS-2 region's Eurostat indicators. Département -> NUTS comes from seed departements_nuts3
-- (INSEE does not publish it); names from INSEE, the seed's when INSEE has not loaded them.
with

communes as (

    select * from {{ ref('int_communes__classified') }}

),

departements_nuts as (

    select * from {{ ref('departements_nuts3') }}

),

departements as (

    {{ latest_version_of_each_record(ref('stg_insee__departements')) }}

),

regions as (

    {{ latest_version_of_each_record(ref('stg_insee__regions')) }}

),

nuts2_indicators as (

    select * from {{ ref('int_nuts2__indicators') }}

)

select
    communes.commune_code,
    communes.commune_name,
    communes.departement_code,
    coalesce(departements.departement_name, departements_nuts.departement_name) as departement_name,
    coalesce(departements.region_code, departements_nuts.region_code) as region_code,
    regions.region_name,
    departements_nuts.nuts3_code,
    departements_nuts.nuts2_code,
    communes.population,
    communes.area_km2,
    communes.population_density_km2,
    communes.urban_class,
    communes.urban_class_basis,
    communes.median_income_eur,
    communes.income_decile,
    communes.poverty_rate_pct,
    nuts2_indicators.unemployment_rate_pct,
    nuts2_indicators.unemployment_year,
    nuts2_indicators.household_income_eur,
    nuts2_indicators.household_income_year
from communes
left join departements_nuts on communes.departement_code = departements_nuts.departement_code
left join departements on communes.departement_code = departements.departement_code
left join regions on coalesce(departements.region_code, departements_nuts.region_code) = regions.region_code
left join nuts2_indicators on departements_nuts.nuts2_code = nuts2_indicators.nuts2_code
