-- Every loaded version of every INSEE département: renamed, nothing else.
with

source as (

    select * from {{ source('insee', 'departements') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as departement_version_id,
        _record_id as record_id,
        payload ->> 'code' as departement_code,
        payload ->> 'intitule' as departement_name,
        payload -> '_context' ->> 'region' as region_code,
        payload ->> 'chefLieu' as chef_lieu_commune_code,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
