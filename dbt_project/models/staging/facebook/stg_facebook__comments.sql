-- One row per loaded version of a Facebook page comment: fields renamed and cast, nothing else.
with

source as (

    select * from {{ source('facebook', 'comments') }}

),

renamed as (

    select
        md5(
            _record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')
        ) as comment_version_id,
        _record_id as comment_id,
        _batch_id as batch_id,
        payload ->> 'post_id' as post_id,
        payload -> 'parent' ->> 'id' as parent_comment_id,
        payload -> 'from' ->> 'id' as author_id,
        payload -> 'from' ->> 'name' as author_name,
        payload ->> 'message' as message,
        (payload ->> 'like_count')::integer as like_count,
        (payload ->> 'created_time')::timestamptz as commented_at,
        _updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
