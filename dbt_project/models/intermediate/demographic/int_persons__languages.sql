-- Each person's preferred language (ISO 639-1, lower case) and where it came from
-- (language_source), first of:
--   'explicit'     the CRM's language field (HubSpot hs_language; 'fr-FR' -> 'fr')
--   'postal_area'  the language area of the postal code in a multilingual country (Belgium,
--                  Switzerland: seed postal_code_languages; Brussels counts as French)
--   'country'      the country's main language (seed country_locales: Belgium 'fr' when the
--                  postal code does not tell, Luxembourg 'fr')
--   'comment'      the language the person writes their social comments in (person_psychographics)
--   'unknown'      none of these (language null)
-- A table, analysed once built: as a view, its three tests and person_demographics each
-- computed it again (README, Benchmark).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}
with

persons as (

    select
        person_id,
        country_code,
        zip,
        -- primary subtag of a BCP 47 tag ('fr-FR', 'pt_BR' -> 'fr', 'pt'); anything else is ignored
        substring(lower(btrim(language)) from '^([a-z]{2})(?:[-_][a-z0-9]+)*$') as explicit_language
    from {{ ref('persons') }}

),

country_locales as (

    select * from {{ ref('country_locales') }}

),

postal_code_languages as (

    select * from {{ ref('postal_code_languages') }}

),

comment_languages as (

    select
        person_id,
        comment_language
    from {{ ref('person_psychographics') }}
    where comment_language is not null

),

postal_area as (

    select
        persons.person_id,
        postal_code_languages.language
    from persons
    inner join postal_code_languages
        on
            persons.country_code = postal_code_languages.country_code
            and persons.zip ~ '^[0-9]{4}$'
            and persons.zip::int between postal_code_languages.postal_code_from and postal_code_languages.postal_code_to

)

select
    persons.person_id,
    coalesce(
        persons.explicit_language,
        postal_area.language,
        country_locales.main_language,
        comment_languages.comment_language
    ) as language,
    case
        when persons.explicit_language is not null then 'explicit'
        when postal_area.language is not null then 'postal_area'
        when country_locales.main_language is not null then 'country'
        when comment_languages.comment_language is not null then 'comment'
        else 'unknown'
    end as language_source
from persons
left join postal_area on persons.person_id = postal_area.person_id
left join country_locales on persons.country_code = country_locales.country_code
left join comment_languages on persons.person_id = comment_languages.person_id
