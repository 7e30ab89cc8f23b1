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

    select
        visit_id,
        event_name,
        lag(event_name) over visit_order as previous_event_name,
        lead(event_name) over visit_order as next_event_name
    from events
    window visit_order as (partition by visit_id order by event_at, event_id)

),

transitions as (

    -- every event and what came next (another event, or the end of the visit)
    select event_name as from_state, coalesce(next_event_name, 'exit') as to_state
    from steps

    union all

    -- the start of each visit
    select 'start' as from_state, event_name as to_state
    from steps
    where previous_event_name is null

),

counted as (

    select from_state, to_state, count(*) as transition_count
    from transitions
    group by from_state, to_state

)

select
    from_state,
    to_state,
    transition_count,
    sum(transition_count) over (partition by from_state) as from_state_count,
    transition_count::double precision / sum(transition_count) over (partition by from_state) as probability
from counted
