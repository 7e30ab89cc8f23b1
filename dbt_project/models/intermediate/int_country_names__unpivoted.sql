-- Every way a country is written in the CRM (ISO2, ISO3, English, French, German, local name,
-- aliases), folded to a lookup key (case, accents, spaces and punctuation removed) -> its codes.
-- (macro country_names_unpivoted: `audience identity normalize` builds the same table from the seed)
with

countries as (

    select * from {{ ref('country_codes') }}

),

keyed as (

    {{ country_names_unpivoted('countries') }}

)

select * from keyed
