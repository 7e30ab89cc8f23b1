{#-
    Gender as typed in a CRM, in the languages of our contacts -> 'm', 'f', or null (unknown,
    other, or not given). Titles count too (Mme, Mr, Herr, Frau).
-#}
{% macro normalise_gender(raw) -%}
    {%- set key = strip_non_letters(fold_case(raw)) -%}
    case
        when {{ key }} in (
            'm', 'male', 'man', 'men', 'masculin', 'masculine', 'homme', 'h', 'monsieur', 'mr',
            'mann', 'männlich', 'maennlich', 'herr', 'hombre', 'masculino', 'uomo', 'maschio', 'maschile', 'homem'
        ) then 'm'
        when {{ key }} in (
            'f', 'female', 'woman', 'women', 'féminin', 'feminin', 'feminine', 'femme', 'madame', 'mme',
            'mademoiselle', 'mlle', 'mrs', 'ms', 'miss', 'w', 'weiblich', 'frau', 'mujer', 'femenino',
            'femenina', 'feminino', 'donna', 'femmina', 'femminile', 'mulher', 'v', 'vrouw'
        ) then 'f'
    end
{%- endmacro %}
