-- One row per person: whether they wrote social comments we could attribute to them, and the
-- interest cluster of their text. People without matched text have has_text false and no cluster;
-- people whose text was too little to place keep has_text true and no cluster.
-- A person behind several authors (e.g. two Facebook ids) takes the cluster of the author with
-- the most comments (clustered authors first); comment counts add up over all their authors.
with

persons as (

    select * from {{ ref('persons') }}

),

matched as (

    select * from {{ ref('int_social_authors__matched') }}
    where person_id is not null

),

text_authors as (

    select * from {{ ref('stg_ml_psychographic__text_authors') }}

),

author_clusters as (

    select * from {{ ref('stg_ml_psychographic__author_clusters') }}

),

interest_clusters as (

    select * from {{ ref('interest_clusters') }}

),

person_authors as (

    select
        matched.person_id,
        matched.social_author_id,
        text_authors.comment_count,
        text_authors.comment_language,
        text_authors.has_text,
        text_authors.last_comment_at,
        author_clusters.interest_cluster_id
    from matched
    inner join text_authors
        on matched.social_author_id = text_authors.social_author_id
    left join author_clusters
        on matched.social_author_id = author_clusters.social_author_id

),

main_author as (

    select distinct on (person_id)
        person_id,
        interest_cluster_id,
        comment_language
    from person_authors
    order by
        person_id,
        (interest_cluster_id is not null) desc,
        comment_count desc,
        last_comment_at desc nulls last,
        social_author_id

),

totals as (

    select
        person_id,
        count(*) as social_author_count,
        sum(comment_count) as comment_count,
        bool_or(has_text) as has_text,
        max(last_comment_at) as last_comment_at
    from person_authors
    group by person_id

)

select
    persons.person_id,
    coalesce(totals.has_text, false) as has_text,
    main_author.interest_cluster_id,
    interest_clusters.interest_cluster_name,
    interest_clusters.interest_label,
    coalesce(totals.comment_count, 0) as comment_count,
    main_author.comment_language,
    coalesce(totals.social_author_count, 0) as social_author_count,
    totals.last_comment_at
from persons
left join totals
    on persons.person_id = totals.person_id
left join main_author
    on persons.person_id = main_author.person_id
left join interest_clusters
    on main_author.interest_cluster_id = interest_clusters.interest_cluster_id
