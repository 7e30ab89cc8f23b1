-- Every loaded version of every INSEE Filosofi observation: renamed and cast, nothing else.
with

source as (

    select * from {{ source('insee', 'income') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as observation_version_id,
        _record_id as record_id,
        payload -> '_context' ->> 'dataset' as dataset_code,
        payload -> 'dimensions' ->> 'GEO' as geo_code,
        -- MED_SL: median standard of living (EUR/year); PR_MD60: poverty rate (%)
        payload -> 'dimensions' ->> 'FILOSOFI_MEASURE' as income_measure,
        payload -> 'dimensions' ->> 'UNIT_MEASURE' as unit_code,
        (payload -> 'dimensions' ->> 'TIME_PERIOD')::int as reference_year,
        (payload -> 'measures' -> 'OBS_VALUE_NIVEAU' ->> 'value')::numeric as observed_value,
        payload -> 'attributes' ->> 'OBS_STATUS' as observation_status,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
