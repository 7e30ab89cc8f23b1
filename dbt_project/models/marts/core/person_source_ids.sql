-- Every live source record behind each person: (source, source_id) -> person_id, for the sources
-- 'hubspot', 'salesforce_contact', 'salesforce_lead' and 'files' (file-drop customer_id).
-- Downstream models map a source's records (web events, orders, comments) to persons through this.
with

resolved as (

    select * from {{ ref('int_contact_records__resolved') }}

)

select
    source,
    source_id,
    person_id,
    is_anchor
from resolved
