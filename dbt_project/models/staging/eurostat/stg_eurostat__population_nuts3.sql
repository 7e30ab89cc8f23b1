-- Every loaded version of every Eurostat demo_r_pjangrp3 observation: renamed and cast, nothing else.
with

source as (

    select * from {{ source('eurostat', 'population_nuts3') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as observation_version_id,
        _record_id as record_id,
        payload -> 'dimensions' ->> 'geo' as nuts3_code,
        payload -> 'labels' ->> 'geo' as nuts3_name,
        payload -> 'dimensions' ->> 'sex' as sex,
        payload -> 'dimensions' ->> 'age' as age_group,
        (payload -> 'dimensions' ->> 'time')::int as reference_year,
        (payload ->> 'value')::numeric as population,
        payload ->> 'status' as observation_status,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
