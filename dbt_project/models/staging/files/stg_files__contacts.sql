-- One row per loaded version of a contact of the CRM file drop (CSV exports): columns renamed,
-- nothing else. The latest version of each customer is kept downstream (int_contact_records__unioned).
with

source as (

    select * from {{ source('files', 'contacts') }}

),

renamed as (

    select
        md5(
            _record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')
        ) as contact_version_id,
        -- customer_id (or contact_id / id) as exported; '<file>:<line>' for a row without one
        _record_id as file_customer_id,
        _batch_id as batch_id,

        payload ->> 'email' as email,
        payload ->> 'phone' as phone,
        payload ->> 'first_name' as first_name,
        payload ->> 'last_name' as last_name,
        payload ->> 'birth_date' as birth_date_text,
        payload ->> 'postal_code' as zip,
        payload ->> 'city' as city,
        payload ->> 'country' as country_text,
        {{ text_to_boolean("payload ->> 'newsletter_opt_in'") }} as has_newsletter_opt_in,

        payload ->> '_file' as file_name,
        (payload ->> '_line')::int as file_line,
        coalesce(_updated_at, (payload ->> 'updated_at')::timestamptz) as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
