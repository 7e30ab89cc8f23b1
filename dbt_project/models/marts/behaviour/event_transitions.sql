-- First-order Markov chain of web behaviour: how often each state follows another within a visit,
-- over the var markov_window_days (90) days before as_of_date, all visitors (anonymous too).
-- States: the six event names, plus 'start' (before a visit's first event) and 'exit' (after
-- its last). probability = P(to_state | from_state) = transition_count / transitions out of from_state.
with

events as (

    select * from {{ ref('int_web_events__attributed') }}
    where event_at >= {{ behaviour_window_start(var('markov_window_days') | int) }}

),

steps as (

    -- one pass over the events, no sort: int_web_events__attributed gives each event the next event
    -- of its visit (none after the visit's last: 'exit') and the previous one (none, or one before
    -- the window start: the event is where the visit starts within the window)
    select
        event_name,
        coalesce(visit_next_event_name, 'exit') as next_state,
        count(*) as step_count,
        count(*) filter (
            where visit_previous_event_at is null
                or visit_previous_event_at < {{ behaviour_window_start(var('markov_window_days') | int) }}
        ) as start_count
    from events
    group by event_name, coalesce(visit_next_event_name, 'exit')

),

counted as (

    select event_name as from_state, next_state as to_state, step_count as transition_count
    from steps

    union all

    select 'start' as from_state, event_name as to_state, sum(start_count)::bigint as transition_count
    from steps
    group by event_name
    having sum(start_count) > 0

)

select
    from_state,
    to_state,
    transition_count,
    sum(transition_count) over (partition by from_state) as from_state_count,
    transition_count::double precision / sum(transition_count) over (partition by from_state) as probability
from counted
