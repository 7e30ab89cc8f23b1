"""Expectations for ``marts.person_propensity``: purchase probabilities (0 to 1) of one model
run, and their deciles 1 to 10 (10 = most likely to buy)."""

from __future__ import annotations

import great_expectations as gx

from expectations._common import between, contract, in_persons, not_null, rows

SUITE_NAME = "person_propensity"
SCHEMA = "marts"
TABLE = "person_propensity"

COLUMNS = ("person_id", "purchase_propensity", "propensity_decile", "model_run_id")


def build_suite(schema: str = SCHEMA) -> gx.ExpectationSuite:
    """The suite for ``<schema>.person_propensity``."""
    expectations = [
        *contract(COLUMNS, key=("person_id",)),
        *not_null("purchase_propensity", "propensity_decile", "model_run_id"),
        between("purchase_propensity", 0, 1),
        between("propensity_decile", 1, 10),
        rows(
            "select model_run_id from {batch} group by model_run_id "
            "having (select count(distinct model_run_id) from {batch}) > 1",
            "one_model_run",
            "Every score comes from the same model run.",
            show=("model_run_id",),
        ),
        rows(
            "select d.propensity_decile, d.low, d.high from (select propensity_decile, "
            "min(purchase_propensity) as low, max(purchase_propensity) as high from {batch} "
            "group by propensity_decile) d join (select propensity_decile, "
            "max(purchase_propensity) as high from {batch} group by propensity_decile) below "
            "on below.propensity_decile < d.propensity_decile and below.high > d.low",
            "deciles_ordered",
            "A higher decile never holds a lower probability than a lower decile's highest.",
            show=("propensity_decile", "low", "high"),
        ),
        in_persons(schema),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
