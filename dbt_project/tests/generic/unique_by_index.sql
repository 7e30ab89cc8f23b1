{#- The column is unique because the column it copies, `index_column` of `relation`, has a unique
    index on it alone (valid, no predicate, no expression): a row when that index is missing. It reads
    the catalogue, not the rows: a unique test over 20M events that such an index already keeps
    unique re-read them all for nothing (22 s at 1M contacts, README, Benchmark). Use it only where
    the model's column is the indexed column unchanged, one row per source row. -#}
{% test unique_by_index(model, column_name, relation, index_column) %}

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
