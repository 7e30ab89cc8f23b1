-- Demographic segment: each person's age band (as of var as_of_date, else today).
with

persons as (

    select * from {{ ref('persons') }}

)

select
    person_id,
    {{ age_band('age') }} as age_band
from persons
