-- Every order a person placed, from the three systems that record sales, latest version of each:
--   files                   shop orders from the CRM file drop (the web shop's system of record)
--   hubspot_deal            HubSpot deals in stage 'closedwon' (ordered_at = closedate)
--   salesforce_opportunity  won Salesforce opportunities (ordered_at = CloseDate, midnight UTC)
-- Pixel Purchase events are NOT orders: they are the browser's view of the shop's own orders,
-- which arrive in the file drop; counting both would count a sale twice. They stay in the funnel.
-- Orders that cannot be attributed to a person are kept with a null person_id.
--
-- A table, analysed once built: as a view inlined into person_rfm, the planner estimated a dozen
-- file orders and joined them to persons_by_email in a nested loop, normalising the order's email
-- once per (order, person) pair, quadratic in the contacts (see README, Benchmark).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}

with

file_order_versions as (

    select * from {{ ref('stg_files__orders') }}

),

deal_versions as (

    select * from {{ ref('stg_hubspot__deals') }}

),

opportunity_versions as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

person_source_ids as (

    select * from {{ ref('person_source_ids') }}

),

persons_by_email as (

    -- an email that belongs to exactly one person
    select email, min(person_id) as person_id
    from {{ ref('persons') }}
    where email is not null
    group by email
    having count(*) = 1

),

file_orders as (

    select *
    from (
        select
            file_order_versions.*,
            row_number() over (
                partition by file_order_id
                order by updated_at desc nulls last, loaded_at desc, batch_id desc, order_version_id desc
            ) as version_rank
        from file_order_versions
    ) as ranked
    where version_rank = 1

),

deals as (

    select *
    from (
        select
            deal_versions.*,
            row_number() over (
                partition by hubspot_deal_id
                order by updated_at desc nulls last, loaded_at desc, batch_id desc, deal_version_id desc
            ) as version_rank
        from deal_versions
    ) as ranked
    where version_rank = 1

),

opportunities as (

    select *
    from (
        select
            opportunity_versions.*,
            row_number() over (
                partition by salesforce_opportunity_id
                order by updated_at desc nulls last, loaded_at desc, batch_id desc, opportunity_version_id desc
            ) as version_rank
        from opportunity_versions
    ) as ranked
    where version_rank = 1

),

unioned as (

    select
        'files' as source,
        file_orders.file_order_id as source_order_id,
        coalesce(by_customer.person_id, persons_by_email.person_id) as person_id,
        case
            when by_customer.person_id is not null then 'customer_id'
            when persons_by_email.person_id is not null then 'email'
        end as attribution_method,
        file_orders.ordered_at,
        file_orders.amount,
        file_orders.currency_code
    from file_orders
    left join person_source_ids as by_customer
        on by_customer.source = 'files' and by_customer.source_id = file_orders.file_customer_id
    left join persons_by_email
        on persons_by_email.email = {{ normalise_email('file_orders.contact_email') }}

    union all

    select
        'hubspot_deal' as source,
        deals.hubspot_deal_id as source_order_id,
        by_contact.person_id,
        case when by_contact.person_id is not null then 'contact_id' end as attribution_method,
        deals.closed_at as ordered_at,
        deals.amount,
        deals.currency_code
    from deals
    left join person_source_ids as by_contact
        on by_contact.source = 'hubspot' and by_contact.source_id = deals.hubspot_contact_id
    where deals.deal_stage = 'closedwon' and not deals.is_archived

    union all

    select
        'salesforce_opportunity' as source,
        opportunities.salesforce_opportunity_id as source_order_id,
        by_contact.person_id,
        case when by_contact.person_id is not null then 'contact_id' end as attribution_method,
        opportunities.close_on::timestamp at time zone 'UTC' as ordered_at,
        opportunities.amount,
        opportunities.currency_code
    from opportunities
    left join person_source_ids as by_contact
        on by_contact.source = 'salesforce_contact'
        and by_contact.source_id = opportunities.salesforce_contact_id
    where opportunities.is_won and not opportunities.is_deleted

)

select
    source || ':' || source_order_id as order_id,
    source,
    source_order_id,
    person_id,
    attribution_method,
    ordered_at,
    {{ to_eur('amount', 'currency_code') }} as amount_eur,
    amount,
    coalesce(currency_code, '{{ var("default_currency_code") | upper }}') as currency_code
from unioned
