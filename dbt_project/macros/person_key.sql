{#-
    Stable, opaque person id derived from a source system's record id, e.g.
    person_key('hubspot', 'hubspot_contact_id') -> md5('hubspot:' || id).
    Opaque so that the id sent to ad platforms (EXTERN_ID) does not reveal CRM ids; stable so that
    re-runs and re-syncs address the same member.
-#}
{% macro person_key(source_name, id_expr) -%}
    md5('{{ source_name }}:' || {{ id_expr }})
{%- endmacro %}
