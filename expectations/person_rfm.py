"""Expectations for ``marts.person_rfm``: recency, frequency and monetary quintiles 1 to 5 for
people with orders, none for the rest (segment ``no_orders``)."""

from __future__ import annotations

import great_expectations as gx

from expectations._common import between, contract, in_persons, in_set, not_null, rows

SUITE_NAME = "person_rfm"
SCHEMA = "marts"
TABLE = "person_rfm"

COLUMNS = ("person_id", "r_score", "f_score", "m_score", "rfm_segment", "clv_eur")
SEGMENTS = ("champions", "new", "loyal", "promising", "at_risk", "hibernating", "lost", "no_orders")


def build_suite(schema: str = SCHEMA) -> gx.ExpectationSuite:
    """The suite for ``<schema>.person_rfm``."""
    expectations = [
        *contract(COLUMNS, key=("person_id",)),
        *not_null("rfm_segment", "clv_eur"),
        between("r_score", 1, 5),
        between("f_score", 1, 5),
        between("m_score", 1, 5),
        in_set("rfm_segment", SEGMENTS),
        between("clv_eur", 0, None),
        rows(
            "select person_id, rfm_segment from {batch} where (rfm_segment = 'no_orders') <> "
            "(r_score is null or f_score is null or m_score is null)",
            "scores_iff_orders",
            "People with orders have all three scores; 'no_orders' people have none.",
            show=("rfm_segment",),
        ),
        in_persons(schema),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
