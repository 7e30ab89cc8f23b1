-- The audience catalogue (audiences/*.yml, via the generated audience_definitions): one row per
-- audience_key, with where it goes, its lookalike settings and whether it is worth syncing: members
-- at least its min_size (var audience_min_size unless the audience sets one) and a destination.
with

definitions as (

    select * from {{ ref('audience_definitions') }}

),

members as (

    select * from {{ ref('audience_members') }}

),

member_counts as (

    select
        audience_key,
        count(*) as member_count
    from members
    group by audience_key

),

sized as (

    select
        definitions.*,
        coalesce(definitions.min_size, {{ var('audience_min_size', 100) }}) as effective_min_size,
        coalesce(member_counts.member_count, 0) as member_count
    from definitions
    left join member_counts
        on definitions.audience_key = member_counts.audience_key

)

select
    audience_key,
    name,
    description,
    owner,
    source_file,
    destinations,
    lookalike_enabled,
    lookalike_countries,
    lookalike_ratio,
    lookalike_starting_ratio,
    effective_min_size as min_size,
    member_count,
    member_count >= effective_min_size and cardinality(destinations) > 0 as is_syncable
from sized
