-- One row per loaded version of a Salesforce Contact: fields renamed and cast, nothing else.
-- The latest version of each contact is kept downstream (int_contact_records__unioned).
with

source as (

    select * from {{ source('salesforce', 'contacts') }}

),

renamed as (

    select
        md5(
            _record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')
        ) as contact_version_id,
        _record_id as salesforce_contact_id,
        _batch_id as batch_id,

        payload ->> 'Email' as email,
        payload ->> 'Phone' as phone,
        payload ->> 'FirstName' as first_name,
        payload ->> 'LastName' as last_name,
        payload ->> 'Birthdate' as birth_date_text,
        payload ->> 'MailingPostalCode' as zip,
        payload ->> 'MailingCity' as city,
        payload ->> 'MailingCountry' as country_text,
        payload ->> 'LeadSource' as lead_source,

        {{ text_to_boolean("payload ->> 'HasOptedOutOfEmail'") }} as has_opted_out_of_email,
        coalesce({{ text_to_boolean("payload ->> 'IsDeleted'") }}, false) as is_deleted,

        (payload ->> 'CreatedDate')::timestamptz as created_at,
        (payload ->> 'LastModifiedDate')::timestamptz as last_modified_at,
        coalesce(_updated_at, (payload ->> 'SystemModstamp')::timestamptz) as system_modified_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
