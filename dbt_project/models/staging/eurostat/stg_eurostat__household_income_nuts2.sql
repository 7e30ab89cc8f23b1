-- Every loaded version of every Eurostat nama_10r_2hhinc observation: renamed and cast, nothing else.
with

source as (

    select * from {{ source('eurostat', 'household_income_nuts2') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as observation_version_id,
        _record_id as record_id,
        payload -> 'dimensions' ->> 'geo' as nuts2_code,
        payload -> 'labels' ->> 'geo' as nuts2_name,
        payload -> 'dimensions' ->> 'na_item' as na_item_code,
        payload -> 'dimensions' ->> 'direct' as direction_code,
        payload -> 'dimensions' ->> 'unit' as unit_code,
        (payload -> 'dimensions' ->> 'time')::int as reference_year,
        (payload ->> 'value')::numeric as observed_value,
        payload ->> 'status' as observation_status,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
