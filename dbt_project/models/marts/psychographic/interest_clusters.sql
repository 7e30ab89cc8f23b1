-- One row per interest cluster of the latest psychographic run, with the stable interest label
-- whose keywords (seed interest_labels) match most of its top terms; null when fewer than
-- var interest_label_min_matches of the first var interest_label_top_terms terms match any label.
with

clusters as (

    select * from {{ ref('stg_ml_psychographic__interest_clusters') }}

),

keywords as (

    select distinct
        label,
        {{ lookup_key('keyword') }} as keyword_key
    from {{ ref('interest_labels') }}

),

terms as (

    select
        clusters.interest_cluster_id,
        term.word,
        term.term_rank,
        {{ lookup_key('term.word') }} as term_key
    from clusters
    cross join lateral unnest(clusters.top_terms) with ordinality as term (word, term_rank)
    where term.term_rank <= {{ var('interest_label_top_terms') }}

),

matches as (

    -- a keyword matches a term equal to it, or starting with it when it has 4 letters or more
    -- ('recycl' matches 'recyclé', 'naturel' matches 'naturelles')
    select
        terms.interest_cluster_id,
        keywords.label,
        count(distinct terms.term_rank) as matched_terms,
        sum(1.0 / terms.term_rank) as match_weight
    from terms
    inner join keywords
        on terms.term_key = keywords.keyword_key
        or (length(keywords.keyword_key) >= 4 and terms.term_key like keywords.keyword_key || '%')
    group by terms.interest_cluster_id, keywords.label

),

best_label as (

    select distinct on (interest_cluster_id)
        interest_cluster_id,
        label,
        matched_terms
    from matches
    where matched_terms >= {{ var('interest_label_min_matches') }}
    order by interest_cluster_id, matched_terms desc, match_weight desc, label

)

select
    clusters.interest_cluster_id,
    clusters.interest_cluster_name,
    best_label.label as interest_label,
    coalesce(best_label.matched_terms, 0) as label_matched_terms,
    clusters.top_terms,
    clusters.author_count,
    clusters.run_id
from clusters
left join best_label
    on clusters.interest_cluster_id = best_label.interest_cluster_id
