-- One row per person (identity resolved across HubSpot, Salesforce and the CRM file drop): the
-- cleaned, typed profile every segment and audience builds on.
with

persons as (

    select * from {{ ref('int_persons__normalised') }}

)

select
    person_id,
    hubspot_contact_id,
    salesforce_contact_id,
    salesforce_lead_id,
    file_customer_id,
    source_count,
    source_record_count,
    email,
    phone_e164_digits,
    first_name,
    last_name,
    birth_date,
    age,
    gender,
    zip,
    city,
    country_code,
    language,
    has_marketing_consent,
    consent_source,
    consent_updated_at,
    is_erasure_requested,
    updated_at,
    birth_date_precision,
    is_birth_date_invalid,
    created_at
from persons
