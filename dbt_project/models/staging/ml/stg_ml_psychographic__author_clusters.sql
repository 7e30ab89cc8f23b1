-- Interest cluster of each social comment author (latest psychographic run), renamed and cast.
with

source as (

    select * from {{ source('ml_psychographic', 'author_clusters') }}

),

renamed as (

    select
        platform || ':' || author_id as social_author_id,
        platform,
        author_id,
        run_id,
        cluster_id as interest_cluster_id,
        similarity as cluster_similarity,
        created_at

    from source

)

select * from renamed
