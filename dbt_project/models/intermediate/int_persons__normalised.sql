-- One row per person: the records identity resolution put together (int_contact_records__resolved),
-- merged attribute by attribute.
-- Survivorship: each attribute takes the value of the most recently updated record that has one
-- (records ordered by updated_at, then HubSpot, Salesforce Contact, Salesforce Lead, files, then id).
-- Consent is the latest signal from any source (with its source and time); missing everywhere = no.
-- Erasure: a request from any record of the person, on any version ever loaded, wins for good.
-- A table, analysed once built: persons, int_persons__hashed and the tests read it.
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
with

records as (

    select * from {{ ref('int_contact_records__normalised') }}

),

resolved as (

    select * from {{ ref('int_contact_records__resolved') }}

),

person_records as (

    select
        resolved.person_id,
        records.*,
        case records.source
            when 'hubspot' then 1
            when 'salesforce_contact' then 2
            when 'salesforce_lead' then 3
            else 4
        end as source_priority
    from records
    inner join resolved
        on records.record_key = resolved.record_key

),

{%- set recency = 'updated_at desc nulls last, source_priority, source_id' %}

merged as (

    select
        person_id,
        -- the lowest HubSpot id: the anchor whenever the person has a HubSpot record
        (array_agg(source_id order by length(source_id), source_id)
            filter (where source = 'hubspot'))[1] as hubspot_contact_id,
        {{ latest_non_null('source_id', recency, 'case when source = \'salesforce_contact\' then 1 end') }}
            as salesforce_contact_id,
        {{ latest_non_null('source_id', recency, 'case when source = \'salesforce_lead\' then 1 end') }}
            as salesforce_lead_id,
        {{ latest_non_null('source_id', recency, 'case when source = \'files\' then 1 end') }}
            as file_customer_id,
        count(distinct source)::int as source_count,
        count(*)::int as source_record_count,

        {{ latest_non_null('email', recency) }} as email,
        {{ latest_non_null('phone_e164_digits', recency) }} as phone_e164_digits,
        {{ latest_non_null('first_name', recency) }} as first_name,
        {{ latest_non_null('last_name', recency) }} as last_name,
        {{ latest_non_null('birth_date', recency) }} as birth_date,
        {{ latest_non_null('birth_date_precision', recency, 'birth_date') }} as birth_date_precision,
        bool_or(is_birth_date_invalid) as has_invalid_birth_date_text,
        {{ latest_non_null('gender', recency) }} as gender,
        {{ latest_non_null('zip', recency) }} as zip,
        {{ latest_non_null('city', recency) }} as city,
        {{ latest_non_null('country_code', recency) }} as country_code,
        {{ latest_non_null('language', recency) }} as language,

        {{ latest_non_null('has_marketing_consent', recency) }} as latest_consent_signal,
        {{ latest_non_null('source', recency, 'has_marketing_consent') }} as consent_source,
        {{ latest_non_null('updated_at', recency, 'has_marketing_consent') }} as consent_updated_at,
        coalesce(bool_or(is_erasure_requested), false) as is_erasure_requested,

        min(created_at) as created_at,
        max(updated_at) as updated_at
    from person_records
    group by person_id

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
    birth_date_precision,
    birth_date is null and has_invalid_birth_date_text as is_birth_date_invalid,
    extract(year from age({{ as_of_date() }}, birth_date))::int as age,
    gender,
    zip,
    city,
    country_code,
    language,
    coalesce(latest_consent_signal, false) as has_marketing_consent,
    consent_source,
    consent_updated_at,
    is_erasure_requested,
    created_at,
    updated_at
from merged
