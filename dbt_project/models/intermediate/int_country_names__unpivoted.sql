-- Every way a country is written in the CRM (ISO2, ISO3, English, French, German, local name,
-- aliases), folded to a lookup key (case, accents, spaces and punctuation removed) -> its codes.
with

countries as (

    select * from {{ ref('country_codes') }}

),

names as (

    select
        countries.iso2,
        countries.iso3,
        countries.calling_code,
        countries.trunk_prefix,
        countries.phone_nsn_min,
        countries.phone_nsn_max,
        countries.zip_length,
        country_name
    from countries
    cross join lateral unnest(
        array[iso2, iso3, name_en, name_fr, name_de, name_local]
        || coalesce(string_to_array(aliases, '|'), array[]::text[])
    ) as country_name

),

keyed as (

    select distinct
        {{ lookup_key('country_name') }} as country_lookup_key,
        upper(iso2) as country_code,
        upper(iso3) as country_code_iso3,
        calling_code,
        nullif(trunk_prefix, '') as trunk_prefix,
        phone_nsn_min,
        phone_nsn_max,
        zip_length
    from names

)

select * from keyed
where country_lookup_key is not null
