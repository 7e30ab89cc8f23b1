"""Expectations for ``marts.persons``: one row per resolved person.

Keys unique and not null, ages plausible (13 to 120, or unknown), genders and
ISO 3166-1 alpha-2 country codes, consent and erasure flags always known (the
audience rules read them). No expectation reads a PII column's values.
"""

from __future__ import annotations

import great_expectations as gx

from expectations._common import ISO2_REGEX, MAX_AGE, MIN_AGE, between, contract, in_set, not_null, regex

SUITE_NAME = "persons"
SCHEMA = "marts"
TABLE = "persons"

COLUMNS = (
    "person_id",
    "hubspot_contact_id",
    "age",
    "gender",
    "country_code",
    "source_count",
    "has_marketing_consent",
    "is_erasure_requested",
)


def build_suite(schema: str = SCHEMA) -> gx.ExpectationSuite:
    """The suite for ``<schema>.persons``."""
    expectations = [
        *contract(COLUMNS, key=("person_id",)),
        *not_null("has_marketing_consent", "is_erasure_requested", "source_count"),
        between("age", MIN_AGE, MAX_AGE),
        in_set("gender", ("f", "m")),
        regex("country_code", ISO2_REGEX, "country_code_iso2"),
        between("source_count", 1, 4),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
