-- Every purchase-propensity model run: renamed only.
with

source as (

    select * from {{ source('ml_propensity', 'model_runs') }}

),

renamed as (

    select
        run_id as model_run_id,
        model as model_name,
        trained_at,
        as_of as as_of_on,
        auc_holdout,
        n_train as train_count,
        n_test as test_count,
        positives as positive_count,
        params,
        features
    from source

)

select * from renamed
