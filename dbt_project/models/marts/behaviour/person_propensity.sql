-- Each person's purchase propensity from the latest model run (ml.propensity_scores), through their
-- HubSpot contact id; a person with several HubSpot records takes their highest score.
-- propensity_decile: 10 = the tenth of scored persons most likely to buy.
with

scores as (

    select * from {{ ref('stg_ml_propensity__scores') }}

),

runs as (

    select * from {{ ref('stg_ml_propensity__model_runs') }}

),

latest_run as (

    select runs.model_run_id
    from runs
    where runs.model_run_id in (select model_run_id from scores)
    order by runs.trained_at desc, runs.model_run_id desc
    limit 1

),

hubspot_persons as (

    select source_id as hubspot_contact_id, person_id
    from {{ ref('person_source_ids') }}
    where source = 'hubspot'

),

per_person as (

    select
        hubspot_persons.person_id,
        max(scores.purchase_propensity) as purchase_propensity,
        min(scores.model_run_id) as model_run_id
    from scores
    inner join latest_run
        on scores.model_run_id = latest_run.model_run_id
    inner join hubspot_persons
        on scores.hubspot_contact_id = hubspot_persons.hubspot_contact_id
    group by hubspot_persons.person_id

)

select
    person_id,
    purchase_propensity,
    ntile(10) over (order by purchase_propensity, person_id) as propensity_decile,
    model_run_id
from per_person
