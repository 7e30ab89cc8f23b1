-- One row per commune (arrondissements excluded: INSEE publishes statistics per commune):
-- population density and its urban class, and the income decile of its median standard of living.
--
-- Urban class (INSEE's degree of urbanisation in spirit, applied to the commune's own density):
--   density >= var urban_dense_min_density (1,500/km²)        -> 'dense'
--   density >= var urban_intermediate_min_density (300/km²)   -> 'intermediate'
--   otherwise                                                  -> 'rural'
-- A commune without an area in seed commune_geo falls back on its population:
--   >= var urban_fallback_dense_min_population (50,000) 'dense', >= var
--   urban_fallback_intermediate_min_population (5,000) 'intermediate', else 'rural';
-- without population either: 'unknown'.
--
-- Income decile: ntile(10) of the median standard of living over the communes in the data
-- (each commune counts once, not weighted by population): 1 = the lowest tenth, 10 = the highest.
with

places as (

    select * from {{ ref('int_insee_places__current') }}
    where place_type = 'commune'

),

statistics as (

    select * from {{ ref('int_commune_statistics__pivoted') }}

),

geo as (

    select * from {{ ref('commune_geo') }}

),

measured as (

    select
        places.commune_code,
        places.place_name as commune_name,
        places.departement_code,
        statistics.population,
        statistics.population_year,
        geo.area_km2,
        case
            when geo.area_km2 > 0 then round(statistics.population / geo.area_km2, 1)
        end as population_density_km2,
        statistics.median_income_eur,
        statistics.income_year,
        statistics.poverty_rate_pct
    from places
    left join statistics on places.commune_code = statistics.commune_code
    left join geo on places.commune_code = geo.insee_code

)

select
    commune_code,
    commune_name,
    departement_code,
    population,
    population_year,
    area_km2,
    population_density_km2,
    case
        when population_density_km2 is not null then
            case
                when population_density_km2 >= {{ var('urban_dense_min_density') }} then 'dense'
                when population_density_km2 >= {{ var('urban_intermediate_min_density') }} then 'intermediate'
                else 'rural'
            end
        when population is not null then
            case
                when population >= {{ var('urban_fallback_dense_min_population') }} then 'dense'
                when population >= {{ var('urban_fallback_intermediate_min_population') }} then 'intermediate'
                else 'rural'
            end
        else 'unknown'
    end as urban_class,
    case
        when population_density_km2 is not null then 'density'
        when population is not null then 'population'
    end as urban_class_basis,
    median_income_eur,
    income_year,
    case
        when median_income_eur is not null
            then ntile(10) over (partition by median_income_eur is null order by median_income_eur, commune_code)
    end as income_decile,
    poverty_rate_pct
from measured
