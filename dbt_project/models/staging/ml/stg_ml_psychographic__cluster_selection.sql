-- Every (algorithm, k) the latest psychographic run tried: silhouette and inertia (the elbow).
with

source as (

    select * from {{ source('ml_psychographic', 'cluster_selection') }}

),

renamed as (

    select
        algorithm || ':' || k as cluster_selection_id,
        run_id,
        algorithm,
        k as cluster_count,
        silhouette,
        inertia,
        is_chosen,
        created_at

    from source

)

select * from renamed
