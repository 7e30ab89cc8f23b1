-- Each person's persona: the multi-level key demographic (age band) × behavioural (engagement
-- tier) × psychographic (interest label), rolled up level by level so no persona is smaller than
-- var persona_min_size:
--   level 3  age band × tier × interest   (kept when the cell holds enough people)
--   level 2  age band × tier              (the people of level-3 cells that were too small)
--   level 1  age band                     (what is still left)
--   level 0  'other'                      (the residue; flagged by is_below_min_size in personas)
-- Minors and people without a usable age are not given a persona (they are never targeted).
with

segments as (

    select * from {{ ref('person_segments') }}

),

keyed as (

    select
        person_id,
        age_band,
        coalesce(engagement_tier, 'cold') as engagement_tier,
        coalesce(interest_label, 'no_known_interest') as interest_label
    from segments
    where age_band not in ('under_18', 'unknown')

),

level_3_cells as (

    select age_band, engagement_tier, interest_label
    from keyed
    group by age_band, engagement_tier, interest_label
    having count(*) >= {{ var('persona_min_size', 50) }}

),

at_level_3 as (

    select
        keyed.person_id,
        keyed.age_band,
        keyed.engagement_tier,
        keyed.interest_label,
        3 as persona_level
    from keyed
    inner join level_3_cells
        on keyed.age_band = level_3_cells.age_band
        and keyed.engagement_tier = level_3_cells.engagement_tier
        and keyed.interest_label = level_3_cells.interest_label

),

left_after_3 as (

    select keyed.*
    from keyed
    where not exists (select 1 from at_level_3 where at_level_3.person_id = keyed.person_id)

),

level_2_cells as (

    select age_band, engagement_tier
    from left_after_3
    group by age_band, engagement_tier
    having count(*) >= {{ var('persona_min_size', 50) }}

),

at_level_2 as (

    select
        left_after_3.person_id,
        left_after_3.age_band,
        left_after_3.engagement_tier,
        null::text as interest_label,
        2 as persona_level
    from left_after_3
    inner join level_2_cells
        on left_after_3.age_band = level_2_cells.age_band
        and left_after_3.engagement_tier = level_2_cells.engagement_tier

),

left_after_2 as (

    select left_after_3.*
    from left_after_3
    where not exists (select 1 from at_level_2 where at_level_2.person_id = left_after_3.person_id)

),

level_1_cells as (

    select age_band
    from left_after_2
    group by age_band
    having count(*) >= {{ var('persona_min_size', 50) }}

),

at_level_1 as (

    select
        left_after_2.person_id,
        left_after_2.age_band,
        null::text as engagement_tier,
        null::text as interest_label,
        1 as persona_level
    from left_after_2
    inner join level_1_cells
        on left_after_2.age_band = level_1_cells.age_band

),

at_level_0 as (

    select
        left_after_2.person_id,
        null::text as age_band,
        null::text as engagement_tier,
        null::text as interest_label,
        0 as persona_level
    from left_after_2
    where not exists (select 1 from at_level_1 where at_level_1.person_id = left_after_2.person_id)

),

assigned as (

    select * from at_level_3
    union all
    select * from at_level_2
    union all
    select * from at_level_1
    union all
    select * from at_level_0

)

select
    person_id,
    {{ persona_key('age_band', 'engagement_tier', 'interest_label') }} as persona_id,
    persona_level,
    age_band,
    engagement_tier,
    interest_label
from assigned
