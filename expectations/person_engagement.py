"""Expectations for ``marts.person_engagement``: one row per person, a score and its tier."""

from __future__ import annotations

import great_expectations as gx

from expectations._common import contract, in_persons, in_set, not_null, rows

SUITE_NAME = "person_engagement"
SCHEMA = "marts"
TABLE = "person_engagement"

COLUMNS = (
    "person_id",
    "engagement_score",
    "engagement_tier",
    "visits",
    "add_to_carts",
    "purchases",
    "abandons",
)
TIERS = ("hot", "warm", "cold")


def build_suite(schema: str = SCHEMA) -> gx.ExpectationSuite:
    """The suite for ``<schema>.person_engagement``."""
    expectations = [
        *contract(COLUMNS, key=("person_id",)),
        *not_null("engagement_score", "engagement_tier"),
        in_set("engagement_tier", TIERS),
        rows(
            "select tier.engagement_tier, tier.low, tier.high, other.engagement_tier as overlapping_tier "
            "from (select engagement_tier, min(engagement_score) as low, max(engagement_score) as high "
            "from {batch} group by engagement_tier) tier "
            "join (select engagement_tier, min(engagement_score) as low, max(engagement_score) as high "
            "from {batch} group by engagement_tier) other "
            "on other.engagement_tier <> tier.engagement_tier "
            "and other.low <= tier.high and other.high >= tier.low",
            "tiers_are_score_ranges",
            "Tiers cut the score into ranges that do not overlap (a score maps to one tier).",
            show=("engagement_tier", "low", "high", "overlapping_tier"),
        ),
        rows(
            "select person_id, engagement_tier from {batch} where engagement_tier = 'hot' "
            "and engagement_score <= (select max(engagement_score) from {batch} "
            "where engagement_tier in ('warm', 'cold'))",
            "hot_scores_highest",
            "Every hot person scores above every warm and cold one.",
            show=("engagement_tier",),
        ),
        in_persons(schema),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
