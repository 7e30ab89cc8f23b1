"""Expectations for ``marts.person_next_action``: each person's probability (0 to 1) that their
next web action is a purchase."""

from __future__ import annotations

import great_expectations as gx

from expectations._common import between, contract, in_persons, not_null

SUITE_NAME = "person_next_action"
SCHEMA = "marts"
TABLE = "person_next_action"

COLUMNS = ("person_id", "last_state", "next_purchase_probability")


def build_suite(schema: str = SCHEMA) -> gx.ExpectationSuite:
    """The suite for ``<schema>.person_next_action``."""
    expectations = [
        *contract(COLUMNS, key=("person_id",)),
        *not_null("last_state", "next_purchase_probability"),
        between("next_purchase_probability", 0, 1),
        in_persons(schema),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
