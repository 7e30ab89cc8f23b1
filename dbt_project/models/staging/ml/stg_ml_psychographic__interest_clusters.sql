-- Interest clusters of the latest psychographic run, renamed and cast.
with

source as (

    select * from {{ source('ml_psychographic', 'interest_clusters') }}

),

renamed as (

    select
        cluster_id as interest_cluster_id,
        run_id,
        cluster_name as interest_cluster_name,
        top_terms,
        size as author_count,
        created_at

    from source

)

select * from renamed
