-- One row per NUTS-2 region with its latest Eurostat indicators, each from its own latest year
-- with a value: unemployment rate (both sexes, 15-74, all education levels, %) and net
-- disposable household income (B6N, balance, euro per inhabitant).
with

unemployment as (

    {{ latest_version_of_each_record(ref('stg_eurostat__unemployment_nuts2')) }}

),

household_income as (

    {{ latest_version_of_each_record(ref('stg_eurostat__household_income_nuts2')) }}

),

latest_unemployment as (

    select distinct on (nuts2_code)
        nuts2_code,
        unemployment_rate_pct,
        reference_year
    from unemployment
    where
        sex = 'T' and age_group = 'Y15-74' and education_level_code = 'TOTAL' and unit_code = 'PC'
        and unemployment_rate_pct is not null
    order by nuts2_code, reference_year desc

),

latest_household_income as (

    select distinct on (nuts2_code)
        nuts2_code,
        observed_value as household_income_eur,
        reference_year
    from household_income
    where
        na_item_code = 'B6N' and direction_code = 'BAL' and unit_code = 'EUR_HAB'
        and observed_value is not null
    order by nuts2_code, reference_year desc

)

select
    coalesce(latest_unemployment.nuts2_code, latest_household_income.nuts2_code) as nuts2_code,
    latest_unemployment.unemployment_rate_pct,
    latest_unemployment.reference_year as unemployment_year,
    latest_household_income.household_income_eur,
    latest_household_income.reference_year as household_income_year
from latest_unemployment
full outer join latest_household_income
    on latest_unemployment.nuts2_code = latest_household_income.nuts2_code
