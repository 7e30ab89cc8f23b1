-- Every loaded version of every INSEE commune and municipal arrondissement: renamed, nothing else.
with

source as (

    select * from {{ source('insee', 'communes') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as commune_version_id,
        _record_id as record_id,
        payload ->> 'code' as place_code,
        payload ->> 'intitule' as place_name,
        -- 'Commune' or 'ArrondissementMunicipal' (Paris, Lyon, Marseille)
        payload ->> 'type' as place_type,
        -- for an arrondissement: the commune it belongs to
        payload -> '_context' ->> 'commune' as parent_commune_code,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
