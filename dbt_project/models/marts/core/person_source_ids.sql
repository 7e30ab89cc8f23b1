-- Every source record behind each person: (source, source_id) -> person_id.
-- Downstream models map a source's records (web events, orders, comments) to persons through this.
with

persons as (

    select * from {{ ref('persons') }}

)

select
    'hubspot'::text as source,
    hubspot_contact_id as source_id,
    person_id
from persons
