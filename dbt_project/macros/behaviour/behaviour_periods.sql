{#-
    Time windows of the behavioural marts, all relative to var as_of_date (see as_of_date()):

    behaviour_period_end()          midnight UTC at the start of as_of_date: events and orders
                                    from then on are ignored (a past as_of_date reproduces the
                                    marts as they were; today's partial day is left out)
    behaviour_window_start(days)    `days` whole days before that: a window of N days is
                                    [behaviour_window_start(N), behaviour_period_end())
-#}
{% macro behaviour_period_end() -%}
    ({{ as_of_date() }}::timestamp at time zone 'UTC')
{%- endmacro %}

{% macro behaviour_window_start(days) -%}
    (({{ as_of_date() }} - {{ days }})::timestamp at time zone 'UTC')
{%- endmacro %}
