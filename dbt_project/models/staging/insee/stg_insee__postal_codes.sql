-- Every loaded version of La Poste's postal code table (one row per INSEE code, postal code and
-- delivery line): renamed, nothing else.
with

source as (

    select * from {{ source('insee', 'postal_codes') }}

),

renamed as (

    select
        md5(_record_id || '|' || _batch_id) as postal_code_version_id,
        _record_id as record_id,
        payload ->> 'Code_postal' as postal_code,
        payload ->> 'Code_commune_INSEE' as place_code,
        payload ->> 'Nom_de_la_commune' as la_poste_commune_name,
        nullif(payload ->> 'Ligne_5', '') as delivery_line,
        payload ->> 'Libellé_d_acheminement' as routing_label,
        _batch_id as batch_id,
        _updated_at as updated_at,
        _loaded_at as loaded_at
    from source

)

select * from renamed
