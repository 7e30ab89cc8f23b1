-- The audience catalogue: one row per audience_key, with where it goes and whether it is big
-- enough to be worth syncing (var audience_min_size).
with

definitions as (

    select *
    from (
        values
            (
                'consenting_adults',
                'Consenting adults',
                'People aged {{ var("audience_min_age", 18) }} or more who gave marketing consent '
                || 'and asked for no erasure.',
                array['facebook']::text[]
            )
    ) as audience_definitions (audience_key, name, description, destinations)

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

)

select
    definitions.audience_key,
    definitions.name,
    definitions.description,
    definitions.destinations,
    {{ var('audience_min_size', 100) }} as min_size,
    coalesce(member_counts.member_count, 0) as member_count,
    coalesce(member_counts.member_count, 0) >= {{ var('audience_min_size', 100) }} as is_syncable
from definitions
left join member_counts
    on definitions.audience_key = member_counts.audience_key
