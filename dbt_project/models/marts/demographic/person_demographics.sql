-- One row per person: who they are and where they live, for demographic segments.
-- People not located in France (other countries, no recognisable postal code or city) have null
-- geography, urban_class 'unknown' and no income or regional indicators.
with

persons as (

    select * from {{ ref('persons') }}

),

located as (

    select * from {{ ref('int_persons__communes') }}

),

communes as (

    select * from {{ ref('int_geo__communes') }}

),

languages as (

    select * from {{ ref('int_persons__languages') }}

)

select
    persons.person_id,
    persons.age,
    {{ age_band('persons.age') }} as age_band,
    persons.is_birth_date_invalid,
    coalesce(persons.gender, 'unknown') as gender,
    languages.language,
    coalesce(languages.language_source, 'unknown') as language_source,
    persons.country_code,
    located.located_by,
    located.commune_code,
    communes.commune_name,
    communes.departement_code,
    communes.departement_name,
    communes.region_code,
    communes.region_name,
    communes.nuts3_code,
    communes.nuts2_code,
    communes.population_density_km2,
    coalesce(communes.urban_class, 'unknown') as urban_class,
    communes.median_income_eur as commune_median_income_eur,
    communes.income_decile as commune_income_decile,
    communes.poverty_rate_pct as commune_poverty_rate_pct,
    communes.unemployment_rate_pct as region_unemployment_rate,
    communes.household_income_eur as region_household_income_eur
from persons
left join located on persons.person_id = located.person_id
left join communes on located.commune_code = communes.commune_code
left join languages on persons.person_id = languages.person_id
