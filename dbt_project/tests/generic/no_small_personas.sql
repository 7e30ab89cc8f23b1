{#- No persona except the 'other' residue holds fewer than min_size people. -#}
{% test no_small_personas(model, min_size) %}

select persona_id, persona_size
from {{ model }}
where persona_id <> 'other' and persona_size < {{ min_size }}

{% endtest %}
