-- Each social comment author, and the person behind them when the name identifies exactly one.
-- Facebook authors show a display name: matched on the folded full name, else (for 'First L.')
-- on first name + initial; two or more candidate persons → 'ambiguous', left unmatched.
-- LinkedIn authors are member URNs without a name: kept (they are clustered), never matched.
--
-- A table, analysed once built: as a view, each of its tests and person_psychographics re-ran the
-- matching (35-54 s each at 1M contacts; see README, Benchmark).
{{ config(materialized='table', post_hook='analyze {{ this }}') }}

with

facebook_comments as (

    select * from {{ ref('stg_facebook__comments') }}

),

linkedin_comments as (

    select * from {{ ref('stg_linkedin__comments') }}

),

persons as (

    select * from {{ ref('persons') }}

),

facebook_authors as (

    -- the name shown on the author's latest comment
    select distinct on (author_id)
        author_id,
        author_name
    from facebook_comments
    where author_id is not null
    order by author_id, commented_at desc nulls last, loaded_at desc

),

linkedin_authors as (

    select distinct author_id
    from linkedin_comments
    where author_id is not null

),

person_keys as (

    -- the key drops spaces and folds each character on its own, so the full name's key is the
    -- first name's key followed by the last name's: two keys a person, not five (nearly 4 µs each;
    -- README, Benchmark)
    select
        person_id,
        first_name_key || last_name_key as full_name_key,
        first_name_key || left(last_name_key, 1) as initial_name_key
    from (
        select
            person_id,
            {{ name_match_key('first_name') }} as first_name_key,
            {{ name_match_key('last_name') }} as last_name_key
        from persons
        offset 0  -- each key once, not once per use above
    ) as keyed
    where first_name_key is not null
        and last_name_key is not null

),

full_name_candidates as (

    select full_name_key, min(person_id) as person_id, count(*) as person_count
    from person_keys
    group by full_name_key

),

initial_name_candidates as (

    select initial_name_key, min(person_id) as person_id, count(*) as person_count
    from person_keys
    group by initial_name_key

),

facebook_keyed as (

    select
        author_id,
        {{ name_match_key('author_name') }} as full_name_key,
        {{ name_initial_match_key('author_name') }} as initial_name_key
    from facebook_authors

),

facebook_matched as (

    select
        'facebook'::text as platform,
        f.author_id,
        case
            when f.full_name_key is null then 'no_name'
            when full_name.person_count = 1 then 'full_name'
            when full_name.person_count > 1 then 'ambiguous'
            when initial_name.person_count = 1 then 'first_name_initial'
            when initial_name.person_count > 1 then 'ambiguous'
            else 'no_match'
        end as match_method,
        case
            when full_name.person_count = 1 then full_name.person_id
            when full_name.person_count is null and initial_name.person_count = 1 then initial_name.person_id
        end as person_id
    from facebook_keyed as f
    left join full_name_candidates as full_name
        on f.full_name_key = full_name.full_name_key
    left join initial_name_candidates as initial_name
        on f.initial_name_key = initial_name.initial_name_key

),

linkedin_matched as (

    select
        'linkedin'::text as platform,
        author_id,
        'member_urn'::text as match_method,
        null::text as person_id
    from linkedin_authors

),

unioned as (

    select * from facebook_matched
    union all
    select * from linkedin_matched

)

select
    platform || ':' || author_id as social_author_id,
    platform,
    author_id,
    person_id,
    match_method
from unioned
