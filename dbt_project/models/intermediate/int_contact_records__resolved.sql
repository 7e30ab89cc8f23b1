-- Identity resolution: which person each live source record belongs to.
-- Records (any source) are nodes; two records are linked when they share a normalised email or an
-- E.164 phone, or when a Salesforce Lead names the Contact it was converted to. A person is a
-- connected component of that graph. A key held by more than var identity_max_records_per_key
-- records (a shared family inbox, a switchboard, 'noreply@...', '0600000000') links nobody, so it
-- cannot chain unrelated people together.
-- person_id = md5 of the component's anchor record ('<source>:<id>'): its HubSpot contact with the
-- lowest id when it has one (so it equals person_key('hubspot', id), the id the sync ledger holds),
-- else its oldest record (created, else updated, first).
-- A table, analysed once built: the recursive walk is the costliest query of the identity chain,
-- and the person merge, person_source_ids and the tests each re-ran it when it was a view.
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
with

records as (

    select
        record_key,
        source,
        source_id,
        email,
        phone_e164_digits,
        linked_record_key,
        created_at,
        updated_at
    from {{ ref('int_contact_records__normalised') }}

),

match_keys as (

    select record_key, 'email' as key_type, email as key_value
    from records
    where email is not null

    -- no row of one branch can repeat (one row per record, and the key types differ): no dedup sort
    union all

    select record_key, 'phone' as key_type, phone_e164_digits as key_value
    from records
    where phone_e164_digits is not null

),

usable_match_keys as (

    select
        record_key,
        key_type,
        key_value
    from (
        select
            match_keys.*,
            count(*) over (partition by key_type, key_value) as record_count
        from match_keys
    ) as counted
    where record_count between 2 and {{ var('identity_max_records_per_key', 5) }}

),

edges as (

    select
        left_side.record_key as from_record_key,
        right_side.record_key as to_record_key
    from usable_match_keys as left_side
    inner join usable_match_keys as right_side
        on left_side.key_type = right_side.key_type
        and left_side.key_value = right_side.key_value
        and left_side.record_key <> right_side.record_key

    union

    -- explicit links (a converted Lead -> its Contact), both ways, when both records are live
    select records.record_key, linked.record_key
    from records
    inner join records as linked
        on records.linked_record_key = linked.record_key

    union

    select linked.record_key, records.record_key
    from records
    inner join records as linked
        on records.linked_record_key = linked.record_key

),

-- every record reachable from each linked record; a component's key is its smallest record_key
-- (the recursion sits in a subquery so that dbt can put its own CTEs in front of this model's)
components as (

    select
        record_key,
        min(start_record_key) as component_key
    from (
        with recursive reachable (start_record_key, record_key) as (
            select distinct from_record_key, from_record_key
            from edges

            union

            select reachable.start_record_key, edges.to_record_key
            from reachable
            inner join edges
                on reachable.record_key = edges.from_record_key
        )

        select * from reachable
    ) as reached
    group by record_key

),

clustered as (

    select
        records.*,
        coalesce(components.component_key, records.record_key) as component_key
    from records
    left join components
        on records.record_key = components.record_key

),

anchored as (

    select
        clustered.*,
        row_number() over (
            partition by component_key
            order by
                source = 'hubspot' desc,
                -- HubSpot ids are numbers written as text: the lowest number first
                case when source = 'hubspot' then length(source_id) end,
                case when source = 'hubspot' then source_id end,
                coalesce(created_at, updated_at) nulls last,
                source,
                source_id
        ) as anchor_rank,
        count(*) over (partition by component_key) as person_record_count
    from clustered

)

select
    anchored.record_key,
    anchored.source,
    anchored.source_id,
    md5(anchors.record_key) as person_id,
    anchored.record_key = anchors.record_key as is_anchor,
    anchored.person_record_count
from anchored
inner join anchored as anchors
    on anchored.component_key = anchors.component_key
    and anchors.anchor_rank = 1
