-- Each person's identifiers normalised per Meta's customer-list rules and hashed with SHA-256
-- (lower-case hex; '' when missing). EXTERN_ID is the person id, sent unhashed.
-- The rules are macro platform_identifiers_ctes, which `audience identity normalize` runs too.
-- (No ST: the CRM sources carry no state or region.)
-- A table, analysed once built: audience_members and the tests read it; as a view, each
-- recomputed the whole identity chain and every digest.
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
with

persons as (

    select * from {{ ref('int_persons__normalised') }}

),

{{ platform_identifiers_ctes(
    'hashed',
    'persons',
    'facebook',
    extern_id='person_id',
    keys=['EMAIL', 'PHONE', 'FN', 'LN', 'CT', 'ZIP', 'COUNTRY', 'DOBY', 'GEN'],
    keep=['person_id'],
) }}

select * from hashed
