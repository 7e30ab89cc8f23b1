-- Every loaded version of every INSEE région: renamed, nothing else.
with

source as (

    select * from {{ source('insee', 'regions') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as region_version_id,
        _record_id as record_id,
        payload ->> 'code' as region_code,
        payload ->> 'intitule' as region_name,
        payload ->> 'chefLieu' as chef_lieu_commune_code,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
