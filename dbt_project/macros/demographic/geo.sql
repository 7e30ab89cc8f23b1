{#-
    Geography helpers. Each returns one SQL expression.
-#}

{#-
    Great-circle distance in kilometres between two points given in decimal degrees (haversine,
    mean Earth radius 6371.0088 km, IUGG). Accurate to ~0.5% (the Earth is not a sphere), plenty
    for "within 20 km of the shop". Null when any coordinate is null. The asin argument is capped
    at 1 so rounding on antipodal points never raises.
-#}
{% macro haversine_km(lat1, lon1, lat2, lon2) -%}
    (2 * 6371.0088 * asin(least(1.0, sqrt(
        power(sin(radians(({{ lat2 }}) - ({{ lat1 }})) / 2), 2)
        + cos(radians({{ lat1 }})) * cos(radians({{ lat2 }}))
        * power(sin(radians(({{ lon2 }}) - ({{ lon1 }})) / 2), 2)
    ))))
{%- endmacro %}

{#-
    The code part of an INSEE Melodi geography code: '2024-COM-02691' -> '02691',
    '2024-DEP-2A' -> '2A'. Codes without a vintage and level prefix are returned as they are.
-#}
{% macro insee_geo_code(expr) -%}
    regexp_replace({{ expr }}, '^[0-9]{4}-[A-Z0-9]+-', '')
{%- endmacro %}

{#- The level of an INSEE Melodi geography code: '2024-COM-02691' -> 'COM'; null without prefix. -#}
{% macro insee_geo_level(expr) -%}
    substring({{ expr }} from '^[0-9]{4}-([A-Z0-9]+)-')
{%- endmacro %}

{#-
    Département of a French commune (or municipal arrondissement) code: the first two characters
    ('69383' -> '69', '2A004' -> '2A'), three for the overseas départements ('97105' -> '971').
-#}
{% macro departement_of_commune(code) -%}
    case
        when {{ code }} like '97%' then left({{ code }}, 3)
        else left({{ code }}, 2)
    end
{%- endmacro %}
