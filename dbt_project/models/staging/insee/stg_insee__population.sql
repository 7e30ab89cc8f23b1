-- Every loaded version of every INSEE Melodi population observation: renamed and cast, nothing else.
with

source as (

    select * from {{ source('insee', 'population') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as observation_version_id,
        _record_id as record_id,
        payload -> '_context' ->> 'dataset' as dataset_code,
        -- Melodi geography, e.g. '2024-COM-69123' (vintage, level, code)
        payload -> 'dimensions' ->> 'GEO' as geo_code,
        -- DS_POPULATIONS_REFERENCE: PMUN, PCAP, PTOT
        payload -> 'dimensions' ->> 'POPREF_MEASURE' as popref_measure,
        -- DS_RP_POPULATION_PRINC: POP, by SEX and AGE ('_T' = total)
        payload -> 'dimensions' ->> 'RP_MEASURE' as census_measure,
        payload -> 'dimensions' ->> 'SEX' as sex,
        payload -> 'dimensions' ->> 'AGE' as age_group,
        (payload -> 'dimensions' ->> 'TIME_PERIOD')::int as reference_year,
        (payload -> 'measures' -> 'OBS_VALUE_NIVEAU' ->> 'value')::numeric as population,
        payload -> 'attributes' ->> 'OBS_STATUS' as observation_status,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
