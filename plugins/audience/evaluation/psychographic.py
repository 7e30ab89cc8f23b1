"""Psychographic clusters against the world's planted interests.

Metric ``psychographic_ari``: adjusted Rand index between ``ml.author_clusters`` (the latest
run's clustered authors) and the planted ``interest_cluster`` of each author's contact
(``truth_social.jsonl`` → ``truth.jsonl``). Target 0.8.

Also reported, when dbt has built the marts: the ARI on matched persons
(``marts.person_psychographics`` against the truth of their HubSpot contact), the share of
clusters whose ``interest_label`` equals their majority planted interest, and the precision and
recall of the author → person name matching. Counts only: no names, no text.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

METRIC = "psychographic_ari"
TARGET = 0.8


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _relation_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (name,)).fetchone()[0]


def evaluate(conn: psycopg.Connection, world_dir: Path) -> dict[str, Any]:
    """Compare the warehouse's psychographic output with the planted truth of ``world_dir``."""
    from sklearn.metrics import adjusted_rand_score  # noqa: PLC0415

    world_dir = Path(world_dir)
    interest = {row["contact_id"]: row["interest_cluster"] for row in _jsonl(world_dir / "truth.jsonl")}
    contact_of = {
        (row["platform"], row["author_id"]): row["contact_id"]
        for row in _jsonl(world_dir / "truth_social.jsonl")
    }

    authors = conn.execute(
        "select count(*), count(*) filter (where has_text) from ml.text_authors"
    ).fetchone()
    planted: list[str] = []
    found: list[int] = []
    members: dict[int, Counter[str]] = defaultdict(Counter)
    unknown_authors = 0
    for platform, author_id, cluster_id in conn.execute(
        "select platform, author_id, cluster_id from ml.author_clusters where cluster_id is not null"
    ):
        contact = contact_of.get((platform, author_id))
        if contact is None or contact not in interest:
            unknown_authors += 1
            continue
        planted.append(interest[contact])
        found.append(cluster_id)
        members[cluster_id][interest[contact]] += 1
    ari = float(adjusted_rand_score(planted, found)) if planted else 0.0
    result: dict[str, Any] = {
        "metric": METRIC,
        "value": round(ari, 4),
        "target": TARGET,
        "passed": bool(planted) and ari >= TARGET,
        "authors": int(authors[0]),
        "authors_with_text": int(authors[1]),
        "authors_clustered": len(found),
        "authors_clustered_share": round(len(found) / authors[0], 4) if authors[0] else 0.0,
        "authors_not_in_truth": unknown_authors,
        "clusters": len(members),
    }

    if _relation_exists(conn, "marts.interest_clusters"):
        labels = dict(conn.execute("select interest_cluster_id, interest_label from marts.interest_clusters"))
        agree = sum(1 for cid, counts in members.items() if labels.get(cid) == counts.most_common(1)[0][0])
        labelled = sum(1 for cid in members if labels.get(cid))
        result["clusters_labelled"] = labelled
        # share of all clusters whose label is their majority planted interest (unlabelled count as wrong)
        result["cluster_label_accuracy"] = round(agree / len(members), 4) if members else 0.0
        result["labelled_cluster_accuracy"] = round(agree / labelled, 4) if labelled else None

    if _relation_exists(conn, "marts.person_psychographics") and _relation_exists(conn, "marts.persons"):
        rows = conn.execute(
            "select p.hubspot_contact_id, pp.interest_cluster_id from marts.person_psychographics pp "
            "join marts.persons p using (person_id) where pp.interest_cluster_id is not null"
        ).fetchall()
        pairs = [(interest[c], cid) for c, cid in rows if c in interest]
        result["persons_clustered"] = len(pairs)
        result["person_ari"] = (
            round(float(adjusted_rand_score([p for p, _ in pairs], [c for _, c in pairs])), 4)
            if pairs
            else None
        )
    if _relation_exists(conn, "intermediate.int_social_authors__matched") and _relation_exists(
        conn, "marts.persons"
    ):
        matched = conn.execute(
            "select m.platform, m.author_id, p.hubspot_contact_id from "
            "intermediate.int_social_authors__matched m join marts.persons p using (person_id)"
        ).fetchall()
        correct = sum(1 for platform, a, c in matched if contact_of.get((platform, a)) == c)
        facebook_authors = sum(1 for platform, _ in contact_of if platform == "facebook")
        result["authors_matched"] = len(matched)
        result["match_precision"] = round(correct / len(matched), 4) if matched else None
        result["match_recall_facebook"] = round(correct / facebook_authors, 4) if facebook_authors else None
    return result
