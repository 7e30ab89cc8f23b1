{#-
    The order that puts a record's latest loaded version first, for
    row_number() over (partition by <record id> order by {{ latest_version_first(...) }}):
    the source's own modification time (highest first, missing last), then the latest load, then
    the latest batch, then the version id (so a tie always resolves the same way).
-#}
{% macro latest_version_first(modified_at, version_id) -%}
    {{ modified_at }} desc nulls last, loaded_at desc, batch_id desc, {{ version_id }} desc
{%- endmacro %}
