-- Purchase-propensity scores of the latest model run, one row per HubSpot contact: renamed only.
with

source as (

    select * from {{ source('ml_propensity', 'propensity_scores') }}

),

renamed as (

    select
        run_id as model_run_id,
        contact_id as hubspot_contact_id,
        purchase_propensity,
        scored_at
    from source

)

select * from renamed
