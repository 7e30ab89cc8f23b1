-- One row per INSEE place (commune or municipal arrondissement) in its latest loaded version,
-- with the commune it belongs to (itself for a commune) and its département.
with

places as (

    {{ latest_version_of_each_record(ref('stg_insee__communes')) }}

)

select
    place_code,
    place_name,
    case when place_type = 'ArrondissementMunicipal' then 'arrondissement' else 'commune' end as place_type,
    case
        when place_type = 'ArrondissementMunicipal' then coalesce(parent_commune_code, place_code)
        else place_code
    end as commune_code,
    {{ departement_of_commune('place_code') }} as departement_code
from places
