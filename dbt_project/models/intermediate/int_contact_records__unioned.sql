-- Every live source record that describes a person, in one shape: the latest version of each
-- HubSpot contact, Salesforce Contact, Salesforce Lead and file-drop customer. Archived HubSpot
-- contacts and deleted Salesforce records are left out (their person leaves audiences with them).
-- has_marketing_consent is the source's own signal, null when it gave none: HubSpot
-- marketing_consent, Salesforce "not HasOptedOutOfEmail", files newsletter_opt_in.
-- is_erasure_requested is true when any loaded version of the record asked for erasure.
with

hubspot_contacts as (

    select * from {{ ref('int_hubspot_contacts__deduplicated') }}

),

salesforce_contact_versions as (

    select
        *,
        row_number() over (
            partition by salesforce_contact_id
            order by {{ latest_version_first('system_modified_at', 'contact_version_id') }}
        ) as version_rank,
        count(*) over (partition by salesforce_contact_id) as version_count
    from {{ ref('stg_salesforce__contacts') }}

),

salesforce_lead_versions as (

    select
        *,
        row_number() over (
            partition by salesforce_lead_id
            order by {{ latest_version_first('system_modified_at', 'lead_version_id') }}
        ) as version_rank,
        count(*) over (partition by salesforce_lead_id) as version_count
    from {{ ref('stg_salesforce__leads') }}

),

file_contact_versions as (

    select
        *,
        row_number() over (
            partition by file_customer_id
            order by {{ latest_version_first('updated_at', 'contact_version_id') }}
        ) as version_rank,
        count(*) over (partition by file_customer_id) as version_count
    from {{ ref('stg_files__contacts') }}

),

unioned as (

    select
        'hubspot'::text as source,
        hubspot_contact_id as source_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date_text,
        gender_text,
        zip,
        city,
        country_text,
        language,
        has_marketing_consent,
        coalesce(is_erasure_ever_requested, false) as is_erasure_requested,
        null::text as linked_record_key,
        created_at,
        updated_at,
        version_count
    from hubspot_contacts
    where not is_archived

    union all

    select
        'salesforce_contact',
        salesforce_contact_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date_text,
        null,
        zip,
        city,
        country_text,
        null,
        not has_opted_out_of_email,
        false,
        null,
        created_at,
        coalesce(last_modified_at, system_modified_at),
        version_count
    from salesforce_contact_versions
    where version_rank = 1 and not is_deleted

    union all

    select
        'salesforce_lead',
        salesforce_lead_id,
        email,
        phone,
        first_name,
        last_name,
        null,
        null,
        zip,
        city,
        country_text,
        null,
        not has_opted_out_of_email,
        false,
        'salesforce_contact:' || converted_salesforce_contact_id,
        created_at,
        coalesce(last_modified_at, system_modified_at),
        version_count
    from salesforce_lead_versions
    where version_rank = 1 and not is_deleted

    union all

    select
        'files',
        file_customer_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date_text,
        null,
        zip,
        city,
        country_text,
        null,
        has_newsletter_opt_in,
        false,
        null,
        null,
        updated_at,
        version_count
    from file_contact_versions
    where version_rank = 1

)

select
    -- '<source>:<source_id>': md5 of it is the person_key() of the record
    source || ':' || source_id as record_key,
    *
from unioned
