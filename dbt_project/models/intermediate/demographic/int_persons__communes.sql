-- Where each person lives, as an INSEE place (arrondissement where there is one, else commune)
-- and the commune it belongs to; only people located in France.
--
-- 1. Postal code (La Poste table), for people whose country is France, or whose country is
--    unknown when var geo_locate_unknown_country is true and the typed city (if any) matches the
--    postal code's commune (a 5-digit code alone could be German, Italian or Spanish).
--    A postal code shared by several communes goes to the one named like the typed city, else
--    the most populous.
-- 2. City name, for French people without a usable postal code, when the name designates a single
--    commune in the table ('Paris' -> 75056, arrondissement unknown).
-- Everyone else (other countries, nothing recognisable) has no row.
-- A table, analysed once built: as a view, its two tests, person_demographics and person_distances
-- each computed it again (README, Benchmark).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
with

persons as (

    select
        person_id,
        country_code,
        zip,
        {{ lookup_key('city') }} as city_key
    from {{ ref('persons') }}
    where country_code = 'FR' or country_code is null

),

postal_places as (

    select * from {{ ref('int_postal_codes__places') }}

),

by_postal_code as (

    select distinct on (persons.person_id)
        persons.person_id,
        postal_places.place_code,
        postal_places.commune_code,
        'postal_code' as located_by
    from persons
    inner join postal_places on persons.zip = postal_places.postal_code
    where
        persons.country_code = 'FR'
        or (
            {{ var('geo_locate_unknown_country') }}
            and (
                persons.city_key is null
                or persons.city_key in (
                    postal_places.place_name_key, postal_places.commune_name_key, postal_places.la_poste_name_key
                )
            )
        )
    order by
        persons.person_id,
        persons.city_key is not null and persons.city_key in (
            postal_places.place_name_key, postal_places.commune_name_key, postal_places.la_poste_name_key
        ) desc,
        postal_places.commune_population desc nulls last,
        postal_places.place_code

),

city_names as (

    select commune_name_key as name_key, commune_code from postal_places
    union
    select la_poste_name_key as name_key, commune_code from postal_places

),

unique_city_names as (

    select name_key, min(commune_code) as commune_code
    from city_names
    where name_key is not null
    group by name_key
    having count(distinct commune_code) = 1

),

by_city as (

    select
        persons.person_id,
        unique_city_names.commune_code as place_code,
        unique_city_names.commune_code,
        'city' as located_by
    from persons
    inner join unique_city_names on persons.city_key = unique_city_names.name_key
    where
        persons.country_code = 'FR'
        and not exists (select 1 from by_postal_code where by_postal_code.person_id = persons.person_id)

)

select * from by_postal_code
union all
select * from by_city
