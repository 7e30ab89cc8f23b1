"""Expectations for ``marts.personas``: one row per persona, each at least
``AUDIENCE_GATE_PERSONA_MIN_SIZE`` people (the dbt var ``persona_min_size``) except the
``'other'`` residue, and sizes that add up to ``<schema>.person_personas``."""

from __future__ import annotations

import great_expectations as gx

from audience.quality.config import GateConfig, load_config
from expectations._common import between, contract, in_set, not_null, rows

SUITE_NAME = "personas"
SCHEMA = "marts"
TABLE = "personas"

COLUMNS = ("persona_id", "persona_level", "persona_size", "is_below_min_size")


def build_suite(schema: str = SCHEMA, config: GateConfig | None = None) -> gx.ExpectationSuite:
    """The suite for ``<schema>.personas``."""
    config = config or load_config()
    min_size = int(config.persona_min_size)
    expectations = [
        *contract(COLUMNS, key=("persona_id",)),
        *not_null("persona_level", "persona_size"),
        in_set("persona_level", (0, 1, 2, 3)),
        between("persona_size", 1, None),
        rows(
            f"select persona_id, persona_size from {{batch}} where persona_id <> 'other' "
            f"and persona_size < {min_size}",
            "persona_min_size",
            f"Every persona but 'other' holds at least {min_size} people.",
            show=("persona_size",),
        ),
        rows(
            "select t.persona_id, t.persona_size, coalesce(m.members, 0) as members from {batch} t "
            f"left join (select persona_id, count(*) as members from {schema}.person_personas "
            "group by persona_id) m on m.persona_id = t.persona_id "
            "where t.persona_size <> coalesce(m.members, 0)",
            "size_matches_members",
            f"Each persona_size is its number of people in {schema}.person_personas.",
            show=("persona_size", "members"),
        ),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
