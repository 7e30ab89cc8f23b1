-- One row per live source record (HubSpot, Salesforce Contact and Lead, file drop), every attribute
-- cleaned and typed the same way whatever its source: email and phone in canonical form (the keys
-- identity resolution matches on), birth date parsed, gender and country mapped to codes.
-- The rules are macro contact_fields_canonical_ctes, which `audience identity normalize` runs too.
-- A table, analysed once built (unlike most intermediate models, views): identity resolution,
-- the person merge and their tests all read it, and as a view each of them re-ran every regex
-- over every record (README, Benchmark).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
with

contacts as (

    select * from {{ ref('int_contact_records__unioned') }}

),

country_names as (

    select * from {{ ref('int_country_names__unpivoted') }}

),

{{ contact_fields_canonical_ctes(
    'final',
    'contacts',
    'country_names',
    fields={
        'email': 'email',
        'phone': 'phone',
        'first_name': 'first_name',
        'last_name': 'last_name',
        'city': 'city',
        'zip': 'zip',
        'country': 'country_text',
        'birth_date': 'birth_date_text',
        'gender': 'gender_text',
    },
    keep=[
        'record_key', 'source', 'source_id', 'language', 'has_marketing_consent',
        'is_erasure_requested', 'linked_record_key', 'created_at', 'updated_at', 'version_count',
    ],
) }}

select
    record_key,
    source,
    source_id,
    email,
    phone_e164_digits,
    first_name,
    last_name,
    birth_date,
    case when birth_date is not null then birth_date_precision_if_valid end as birth_date_precision,
    has_birth_date_text and birth_date is null as is_birth_date_invalid,
    extract(year from age({{ as_of_date() }}, birth_date))::int as age,
    gender,
    zip,
    city,
    country_code,
    lower({{ clean_text('language') }}) as language,
    has_marketing_consent,
    is_erasure_requested,
    linked_record_key,
    created_at,
    updated_at,
    version_count
from final
