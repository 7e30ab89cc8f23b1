"""The psychographic evaluation: ARI of ml.author_clusters against a planted truth."""

from __future__ import annotations

import json

import psycopg

from audience.evaluation import psychographic as evaluation
from audience.ml import psychographic


def test_evaluate_ari_against_planted_truth(fresh_warehouse, tmp_path):
    contacts = {"1": "outdoor", "2": "outdoor", "3": "tech", "4": "tech", "5": "beauty"}
    (tmp_path / "truth.jsonl").write_text(
        "".join(json.dumps({"contact_id": c, "interest_cluster": i}) + "\n" for c, i in contacts.items())
    )
    (tmp_path / "truth_social.jsonl").write_text(
        "".join(
            json.dumps({"platform": "facebook", "author_id": f"a{c}", "contact_id": c}) + "\n"
            for c in contacts
        )
    )
    with psycopg.connect(**fresh_warehouse.libpq()) as conn:
        conn.execute(psychographic.DDL)
        # a1, a2 together; a3, a4 together; a5 without text, not clustered
        for author, cluster, has_text in (
            ("a1", 1, True),
            ("a2", 1, True),
            ("a3", 2, True),
            ("a4", 2, True),
            ("a5", None, False),
        ):
            conn.execute(
                "insert into ml.text_authors (run_id, platform, author_id, comment_count, "
                "content_term_count, has_text) values ('r', 'facebook', %s, 1, 2, %s)",
                (author, has_text),
            )
            conn.execute(
                "insert into ml.author_clusters (run_id, platform, author_id, cluster_id) "
                "values ('r', 'facebook', %s, %s)",
                (author, cluster),
            )
        perfect = evaluation.evaluate(conn, tmp_path)
        conn.execute("update ml.author_clusters set cluster_id = 1 where author_id = 'a3'")
        worse = evaluation.evaluate(conn, tmp_path)

    assert perfect["metric"] == "psychographic_ari" and perfect["target"] == 0.8
    assert perfect["value"] == 1.0 and perfect["passed"] is True
    assert perfect["authors"] == 5 and perfect["authors_clustered"] == 4
    assert perfect["authors_clustered_share"] == 0.8
    assert worse["value"] < 0.8 and worse["passed"] is False
