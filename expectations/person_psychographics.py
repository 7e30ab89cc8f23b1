"""Expectations for ``marts.person_psychographics``: interest clusters of people who wrote.

Nobody without text has a cluster, and every cluster is one of
``<schema>.interest_clusters``.
"""

from __future__ import annotations

import great_expectations as gx

from expectations._common import contract, in_persons, not_null, rows

SUITE_NAME = "person_psychographics"
SCHEMA = "marts"
TABLE = "person_psychographics"

COLUMNS = ("person_id", "has_text", "interest_cluster_id", "interest_label", "comment_count")


def build_suite(schema: str = SCHEMA) -> gx.ExpectationSuite:
    """The suite for ``<schema>.person_psychographics``."""
    expectations = [
        *contract(COLUMNS, key=("person_id",)),
        *not_null("has_text"),
        rows(
            "select person_id, interest_cluster_id from {batch} where has_text is false "
            "and (interest_cluster_id is not null or interest_label is not null)",
            "no_text_no_cluster",
            "A person without text (has_text false) has no interest cluster nor label.",
            show=("interest_cluster_id",),
        ),
        rows(
            "select t.person_id, t.interest_cluster_id from {batch} t "
            f"left join {schema}.interest_clusters c on c.interest_cluster_id = t.interest_cluster_id "
            "where t.interest_cluster_id is not null and c.interest_cluster_id is null",
            "cluster_is_known",
            f"Every interest_cluster_id is a cluster of {schema}.interest_clusters.",
            show=("interest_cluster_id",),
        ),
        in_persons(schema),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
