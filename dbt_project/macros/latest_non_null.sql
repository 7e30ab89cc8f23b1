{#-
    Survivorship inside a group by person: the value of `column` from the most recently updated
    record that has one (null when no record has). `recency_order` is the order that puts the most
    recent record first; it must end in a unique key so that a tie always resolves the same way.
    Aggregates with the same order pick values of the same record when they filter on the same column.
-#}
{% macro latest_non_null(column, recency_order, filter_column=none) -%}
    (array_agg({{ column }} order by {{ recency_order }})
        filter (where {{ filter_column or column }} is not null))[1]
{%- endmacro %}
