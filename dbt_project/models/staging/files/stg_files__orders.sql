-- One row per loaded version of a shop order from the file drop: renamed and cast, nothing else.
with

source as (

    select * from {{ source('files', 'orders') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id || '|' || coalesce(_updated_at::text, '')) as order_version_id,
        _record_id as file_order_id,
        _batch_id as batch_id,

        nullif(trim(payload ->> 'customer_id'), '') as file_customer_id,
        payload ->> 'contact_email' as contact_email,
        {{ numeric_or_null("payload ->> 'amount'") }} as amount,
        upper(nullif(trim(payload ->> 'currency'), '')) as currency_code,
        (payload ->> 'ordered_at')::timestamptz as ordered_at,
        payload ->> '_file' as file_name,

        _updated_at as updated_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
