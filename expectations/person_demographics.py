"""Expectations for ``marts.person_demographics``: one row per person.

Ages 13 to 120 or unknown and the band that goes with the age, genders, ISO2
country codes, urban classes and commune income deciles 1 to 10.
"""

from __future__ import annotations

import great_expectations as gx

from expectations._common import (
    AGE_BANDS,
    ISO2_REGEX,
    MAX_AGE,
    MIN_AGE,
    between,
    contract,
    in_persons,
    in_set,
    regex,
    rows,
)

SUITE_NAME = "person_demographics"
SCHEMA = "marts"
TABLE = "person_demographics"

COLUMNS = ("person_id", "age", "age_band", "gender", "country_code", "urban_class", "commune_income_decile")
GENDERS = ("f", "m", "unknown")
URBAN_CLASSES = ("dense", "intermediate", "rural", "unknown")

_BAND_OF_AGE = (
    "case when age is null then 'unknown' when age < 18 then 'under_18' when age < 25 then '18-24' "
    "when age < 35 then '25-34' when age < 45 then '35-44' when age < 55 then '45-54' "
    "when age < 65 then '55-64' else '65+' end"
)


def build_suite(schema: str = SCHEMA) -> gx.ExpectationSuite:
    """The suite for ``<schema>.person_demographics``."""
    expectations = [
        *contract(COLUMNS, key=("person_id",)),
        between("age", MIN_AGE, MAX_AGE),
        in_set("age_band", AGE_BANDS),
        in_set("gender", GENDERS),
        regex("country_code", ISO2_REGEX, "country_code_iso2"),
        in_set("urban_class", URBAN_CLASSES),
        between("commune_income_decile", 1, 10),
        rows(
            f"select person_id, age_band from {{batch}} where age_band is distinct from ({_BAND_OF_AGE})",
            "age_band_matches_age",
            "Each person's age band is the band of their age ('unknown' without one).",
            show=("age_band",),
        ),
        in_persons(schema),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
