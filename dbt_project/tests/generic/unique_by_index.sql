{#- The column is unique because the column it copies, `index_column` of `relation`, has a unique
    index on it alone (valid, no predicate, no expression): a row when that index is missing. It reads
    the catalogue, not the rows: a unique test over 20M events that such an index already keeps
    unique re-read them all for nothing (22 s at 1M contacts, README, Benchmark). Use it only where
    the model's column is the indexed column unchanged, one row per source row; or without
    arguments, on a model whose build indexes the column itself (a unique index is one sort of the
    rows where a unique test is a hash aggregate that spills: 13.4 s instead of 29.4 s over the 20.6M
    visits at 1M contacts). -#}
{% test unique_by_index(model, column_name, relation=none, index_column=none) %}
{#- without arguments: the model's own column, kept unique by an index its build creates -#}
{%- set relation = relation or model -%}
{%- set index_column = index_column or column_name -%}

select
    '{{ relation }}' as relation,
    '{{ index_column }}' as column_without_unique_index
where not exists (
    select 1
    from pg_index as i
    inner join pg_attribute as a
        on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
    where i.indrelid = to_regclass('{{ relation }}')
        and i.indisunique
        and i.indisvalid
        and i.indpred is null
        and i.indexprs is null
        and i.indnkeyatts = 1
        and a.attname = '{{ index_column }}'
)

{% endtest %}
