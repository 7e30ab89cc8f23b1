-- Each person's last web state and the probability that their next action is a purchase, from the
-- Markov chain in event_transitions. The next action after state s is a Purchase either directly
-- or, when the visit ends first, as the first event of the next visit:
--   P = P(s -> Purchase) + P(s -> exit) x P(start -> Purchase)
-- last_state is the person's last event in the var markov_window_days window; 'start' for persons
-- with none (their next action would open a visit).
with

persons as (

    select person_id from {{ ref('persons') }}

),

events as (

    select * from {{ ref('int_web_events__attributed') }}
    where person_id is not null
        and event_at >= {{ behaviour_window_start(var('markov_window_days') | int) }}

),

transitions as (

    select * from {{ ref('event_transitions') }}

),

last_events as (

    select person_id, event_name, event_at
    from (
        select
            person_id,
            event_name,
            event_at,
            row_number() over (partition by person_id order by event_at desc, event_id desc) as recency_rank
        from events
    ) as ranked
    where recency_rank = 1

),

next_purchase as (

    select
        states.from_state,
        coalesce(to_purchase.probability, 0)
        + coalesce(to_exit.probability, 0) * coalesce(start_to_purchase.probability, 0) as next_purchase_probability
    from (select distinct from_state from transitions union select 'start') as states
    left join transitions as to_purchase
        on to_purchase.from_state = states.from_state and to_purchase.to_state = 'Purchase'
    left join transitions as to_exit
        on to_exit.from_state = states.from_state and to_exit.to_state = 'exit'
    left join transitions as start_to_purchase
        on start_to_purchase.from_state = 'start' and start_to_purchase.to_state = 'Purchase'

)

select
    persons.person_id,
    coalesce(last_events.event_name, 'start') as last_state,
    last_events.event_at as last_event_at,
    coalesce(next_purchase.next_purchase_probability, 0) as next_purchase_probability
from persons
left join last_events
    on persons.person_id = last_events.person_id
left join next_purchase
    on next_purchase.from_state = coalesce(last_events.event_name, 'start')
