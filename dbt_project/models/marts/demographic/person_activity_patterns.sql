-- One row per person with at least one attributed web event: when they are active, in their local
-- time (time zone of their country, seed country_locales; var default_time_zone when unknown).
-- Most frequent values win; ties go to the earliest hour / weekday / daypart / season.
--   daypart: 'morning' 06-11h, 'afternoon' 12-17h, 'evening' 18-22h, 'night' 23-05h
--   season (meteorological, northern hemisphere): winter Dec-Feb, spring Mar-May, summer Jun-Aug,
--   autumn Sep-Nov. With only the last 90 days of events, peak_season says when in that window
--   someone was most active; the quarter and month shares show how the events spread.
with

events as (

    select * from {{ ref('int_web_events__attributed') }}
    where person_id is not null

),

persons as (

    select * from {{ ref('persons') }}

),

country_locales as (

    select * from {{ ref('country_locales') }}

),

local_events as (

    select
        events.person_id,
        events.event_at,
        coalesce(country_locales.time_zone, '{{ var("default_time_zone") }}') as time_zone,
        events.event_at at time zone coalesce(country_locales.time_zone, '{{ var("default_time_zone") }}')
            as local_at
    from events
    inner join persons on events.person_id = persons.person_id
    left join country_locales on persons.country_code = country_locales.country_code
    -- offset 0 keeps this a step of its own: PostgreSQL would otherwise copy the local_at expression
    -- into every part read off it below, converting each event's time zone once per part
    offset 0

),

local_parts as (

    -- each part read once off the local time (date_part: a float, cheaper than extract's numeric)
    select
        person_id,
        event_at,
        time_zone,
        local_at::date as local_date,
        date_part('hour', local_at)::int as local_hour,
        date_part('isodow', local_at)::int as local_weekday,
        date_part('month', local_at)::int as local_month,
        local_at::date - (date_part('day', local_at)::int - 1) as local_month_start
    from local_events
    offset 0  -- the parts once per event, not once per use below

),

classified as (

    select
        person_id,
        event_at,
        time_zone,
        local_date,
        local_hour,
        local_weekday,
        local_month,
        (local_month + 2) / 3 as local_quarter,
        -- the month's first day; written 'YYYY-MM' once per person and month, in the final select
        local_month_start,
        case
            when local_hour between 6 and 11 then 1
            when local_hour between 12 and 17 then 2
            when local_hour between 18 and 22 then 3
            else 4
        end as daypart_rank,
        case
            when local_month in (12, 1, 2) then 1
            when local_month in (3, 4, 5) then 2
            when local_month in (6, 7, 8) then 3
            else 4
        end as season_rank
    from local_parts

),

per_person as (

    select
        person_id,
        min(time_zone) as time_zone,
        count(*) as event_count,
        count(distinct local_date) as active_days,
        min(event_at) as first_event_at,
        max(event_at) as last_event_at,
        mode() within group (order by local_hour) as most_active_hour_local,
        mode() within group (order by local_weekday) as most_active_weekday,
        mode() within group (order by daypart_rank) as daypart_rank,
        mode() within group (order by season_rank) as season_rank,
        mode() within group (order by local_month) as peak_month,
        round(avg((local_weekday >= 6)::int), 3) as weekend_share,
        round(avg((local_quarter = 1)::int), 3) as share_q1,
        round(avg((local_quarter = 2)::int), 3) as share_q2,
        round(avg((local_quarter = 3)::int), 3) as share_q3,
        round(avg((local_quarter = 4)::int), 3) as share_q4,
        -- each event's month, counted per person below: the months' shares come out of this one
        -- pass, where a second aggregate by person and month kept every event aside to read it
        -- twice (55.4 s against 74.0 s of one core for this query at 1M, README, Benchmark)
        array_agg(local_month_start) as event_month_starts
    from classified
    group by person_id

)

select
    per_person.person_id,
    per_person.time_zone,
    per_person.event_count,
    per_person.event_count >= {{ var('activity_min_events') }} as has_reliable_pattern,
    per_person.active_days,
    per_person.first_event_at,
    per_person.last_event_at,
    per_person.most_active_hour_local,
    per_person.most_active_weekday,
    case per_person.daypart_rank
        when 1 then 'morning' when 2 then 'afternoon' when 3 then 'evening' else 'night'
    end as daypart,
    case per_person.season_rank
        when 1 then 'winter' when 2 then 'spring' when 3 then 'summer' else 'autumn'
    end as peak_season,
    per_person.peak_month,
    per_person.weekend_share,
    per_person.share_q1,
    per_person.share_q2,
    per_person.share_q3,
    per_person.share_q4,
    (
        select jsonb_object_agg(to_char(month_start, 'YYYY-MM'), round(n::numeric / per_person.event_count, 3))
        from (
            select month_start, count(*) as n
            from unnest(per_person.event_month_starts) as month_start
            group by month_start
        ) as months
    ) as monthly_event_shares
from per_person
