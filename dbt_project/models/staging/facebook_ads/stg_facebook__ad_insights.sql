-- Daily ad insights, typed; one row per load of an (ad, day, breakdown value) row (append-only raw).
with

source as (

    select * from {{ source('facebook_ads', 'facebook__ad_insights') }}

),

renamed as (

    select
        _batch_id || ':' || _record_id as ad_insight_load_id,
        _record_id as ad_insight_id,
        payload ->> 'account_id' as ad_account_id,
        payload ->> 'campaign_id' as campaign_id,
        payload ->> 'campaign_name' as campaign_name,
        payload ->> 'ad_id' as ad_id,
        payload ->> 'ad_name' as ad_name,
        (payload ->> 'date_start')::date as reported_on,
        array_to_string(array(select jsonb_array_elements_text(payload -> 'breakdowns')), ',') as breakdown,
        payload ->> 'age' as age_bracket,
        payload ->> 'gender' as gender,
        payload ->> 'region' as region_name,
        (payload ->> 'impressions')::bigint as impressions,
        (payload ->> 'clicks')::bigint as clicks,
        (payload ->> 'reach')::bigint as reach,
        {{ numeric_or_null("payload ->> 'spend'") }} as spend,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
