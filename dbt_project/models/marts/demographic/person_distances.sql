-- One row per located person and configured point (seed points_of_interest): the great-circle
-- distance in km, rounded to 0.1 km, from where the person lives (their arrondissement's centroid
-- in Paris, Lyon and Marseille, else their commune's; seed commune_geo) to the point.
-- People without a location, or whose place has no centroid, have no rows.
-- An audience "within 20 km of the Lyon shop" is: point_key = 'lyon_shop' and distance_km <= 20.
with

located as (

    select * from {{ ref('int_persons__communes') }}

),

geo as (

    select * from {{ ref('commune_geo') }}

),

points as (

    select * from {{ ref('points_of_interest') }}

),

positioned as (

    select
        located.person_id,
        coalesce(place_geo.lat, commune_geo.lat) as lat,
        coalesce(place_geo.lon, commune_geo.lon) as lon
    from located
    left join geo as place_geo on located.place_code = place_geo.insee_code
    left join geo as commune_geo on located.commune_code = commune_geo.insee_code

)

select
    positioned.person_id,
    points.point_key,
    points.kind as point_kind,
    round({{ haversine_km('positioned.lat', 'positioned.lon', 'points.lat', 'points.lon') }}::numeric, 1)
        as distance_km
from positioned
cross join points
where positioned.lat is not null and positioned.lon is not null
