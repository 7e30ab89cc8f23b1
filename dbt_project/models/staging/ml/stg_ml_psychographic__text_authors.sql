-- Social comment authors of the latest psychographic run, renamed and cast.
with

source as (

    select * from {{ source('ml_psychographic', 'text_authors') }}

),

renamed as (

    select
        platform || ':' || author_id as social_author_id,
        platform,
        author_id,
        run_id,
        language as comment_language,
        comment_count,
        content_term_count,
        last_comment_at,
        has_text,
        created_at

    from source

)

select * from renamed
