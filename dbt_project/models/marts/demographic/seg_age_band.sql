-- Demographic segment: each person's age band (as of var as_of_date, else today).
with

persons as (

    select * from {{ ref('persons') }}

)

select
    person_id,
    case
        when age is null then 'unknown'
        when age < 18 then 'under_18'
        when age < 25 then '18-24'
        when age < 35 then '25-34'
        when age < 45 then '35-44'
        when age < 55 then '45-54'
        when age < 65 then '55-64'
        else '65+'
    end as age_band
from persons
