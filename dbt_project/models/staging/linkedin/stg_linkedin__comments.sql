-- One row per loaded version of a LinkedIn organisation comment: fields renamed and cast, nothing else.
with

source as (

    select * from {{ source('linkedin', 'comments') }}

),

renamed as (

    select
        md5(
            _record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')
        ) as comment_version_id,
        _record_id as comment_id,
        _batch_id as batch_id,
        coalesce(payload ->> 'object', payload ->> 'post') as post_id,
        coalesce(payload ->> 'actor', payload -> 'created' ->> 'actor') as author_id,
        payload -> 'message' ->> 'text' as message,
        (payload -> 'likesSummary' ->> 'totalLikes')::integer as like_count,
        to_timestamp((payload -> 'created' ->> 'time')::double precision / 1000) as commented_at,
        _updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
