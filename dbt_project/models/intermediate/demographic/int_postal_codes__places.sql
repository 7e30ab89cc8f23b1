-- One row per (postal code, INSEE place) from La Poste's table (its delivery lines folded): the
-- place (commune or arrondissement: 69003 -> 69383), the commune it belongs to (69123 Lyon), the
-- commune's population, and lookup keys of the names a person may type as their city.
with

postal_codes as (

    {{ latest_version_of_each_record(ref('stg_insee__postal_codes')) }}

),

places as (

    select * from {{ ref('int_insee_places__current') }}

),

statistics as (

    select * from {{ ref('int_commune_statistics__pivoted') }}

),

pairs as (

    select distinct on (postal_code, place_code)
        postal_code,
        place_code,
        la_poste_commune_name
    from postal_codes
    where postal_code is not null and place_code is not null
    order by postal_code, place_code, delivery_line nulls first

)

select
    pairs.postal_code,
    pairs.place_code,
    coalesce(places.commune_code, pairs.place_code) as commune_code,
    statistics.population as commune_population,
    {{ lookup_key('places.place_name') }} as place_name_key,
    {{ lookup_key('communes.place_name') }} as commune_name_key,
    -- La Poste writes 'LYON 03', 'ST QUENTIN': digits dropped, 'st' kept as typed
    {{ lookup_key('pairs.la_poste_commune_name') }} as la_poste_name_key
from pairs
left join places on pairs.place_code = places.place_code
left join places as communes on coalesce(places.commune_code, pairs.place_code) = communes.place_code
left join statistics on coalesce(places.commune_code, pairs.place_code) = statistics.commune_code
