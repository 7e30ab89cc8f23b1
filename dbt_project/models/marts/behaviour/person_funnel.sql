-- Each person's web funnel over the 7, 30 and 90 days before as_of_date, and how recent they are.
-- visits = visits (sessions, see int_web_events__attributed) with at least one event in the window;
-- the other counts are events: ViewContent, AddToCart, InitiateCheckout, Purchase, CartAbandon.
{%- set windows = [7, 30, 90] %}
{%- set event_counts = {
    'product_views': 'ViewContent',
    'add_to_carts': 'AddToCart',
    'checkouts': 'InitiateCheckout',
    'purchases': 'Purchase',
    'abandons': 'CartAbandon',
} %}
with

persons as (

    select person_id from {{ ref('persons') }}

),

events as (

    select * from {{ ref('int_web_events__attributed') }}
    where person_id is not null

),

promotion_pages as (

    select unnest(array[
        {%- for path in var('promotion_page_paths') %}'{{ path }}'{{ ", " if not loop.last }}{% endfor -%}
    ]::text[]) as page_path

),

per_person as (

    select
        events.person_id,
        {%- for days in windows %}
        count(distinct events.visit_id) filter (
            where events.event_at >= {{ behaviour_window_start(days) }}
        ) as visits_{{ days }}d,
        {%- for column, event_name in event_counts.items() %}
        count(*) filter (
            where events.event_name = '{{ event_name }}' and events.event_at >= {{ behaviour_window_start(days) }}
        ) as {{ column }}_{{ days }}d,
        {%- endfor %}
        {%- endfor %}
        count(*) filter (
            where events.event_name = 'PageView'
            and events.page_path in (select page_path from promotion_pages)
            and events.event_at >= {{ behaviour_window_start(30) }}
        ) as promotion_page_views_30d,
        max(events.event_at) as last_event_at
    from events
    group by events.person_id

)

select
    persons.person_id,
    {%- for days in windows %}
    coalesce(per_person.visits_{{ days }}d, 0) as visits_{{ days }}d,
    {%- for column in event_counts %}
    coalesce(per_person.{{ column }}_{{ days }}d, 0) as {{ column }}_{{ days }}d,
    {%- endfor %}
    {%- endfor %}
    coalesce(per_person.promotion_page_views_30d, 0) as promotion_page_views_30d,
    per_person.last_event_at,
    {{ as_of_date() }} - (per_person.last_event_at at time zone 'UTC')::date as days_since_last_event
from persons
left join per_person
    on persons.person_id = per_person.person_id
