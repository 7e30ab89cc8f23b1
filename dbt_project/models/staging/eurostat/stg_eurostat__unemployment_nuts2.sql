-- Every loaded version of every Eurostat lfst_r_lfu3rt observation: renamed and cast, nothing else.
with

source as (

    select * from {{ source('eurostat', 'unemployment_nuts2') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as observation_version_id,
        _record_id as record_id,
        payload -> 'dimensions' ->> 'geo' as nuts2_code,
        payload -> 'labels' ->> 'geo' as nuts2_name,
        payload -> 'dimensions' ->> 'sex' as sex,
        payload -> 'dimensions' ->> 'age' as age_group,
        payload -> 'dimensions' ->> 'isced11' as education_level_code,
        payload -> 'dimensions' ->> 'unit' as unit_code,
        (payload -> 'dimensions' ->> 'time')::int as reference_year,
        (payload ->> 'value')::numeric as unemployment_rate_pct,
        payload ->> 'status' as observation_status,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
