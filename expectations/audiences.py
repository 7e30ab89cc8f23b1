"""Expectations for ``marts.audiences``: the audience catalogue and whether each is syncable.

An audience marked ``is_syncable`` is at least as large as every destination it
goes to demands (Facebook ``AUDIENCE_GATE_MIN_AUDIENCE_FACEBOOK``, 100; LinkedIn
``AUDIENCE_GATE_MIN_AUDIENCE_LINKEDIN``, 300), ``is_syncable`` follows its own rule
(members at least ``min_size``, some destination), and ``member_count`` is the
number of its rows in ``<schema>.audience_members``.
"""

from __future__ import annotations

import great_expectations as gx

from audience.quality.config import GateConfig, load_config
from expectations._common import between, contract, not_null, rows

SUITE_NAME = "audiences"
SCHEMA = "marts"
TABLE = "audiences"

COLUMNS = ("audience_key", "destinations", "min_size", "member_count", "is_syncable")


def _destination_sizes(config: GateConfig) -> str:
    """The destinations' minimum sizes as an SQL ``values`` list."""
    pairs = ", ".join(f"('{d}', {int(n)})" for d, n in sorted(config.destination_min_sizes.items()))
    return f"(values {pairs}) as demand(destination, min_members)"


def build_suite(schema: str = SCHEMA, config: GateConfig | None = None) -> gx.ExpectationSuite:
    """The suite for ``<schema>.audiences``."""
    config = config or load_config()
    demand = _destination_sizes(config)
    known = ", ".join(f"'{d}'" for d in sorted(config.destination_min_sizes))
    expectations = [
        *contract(COLUMNS, key=("audience_key",)),
        *not_null("member_count", "is_syncable", "min_size"),
        between("member_count", 0, None),
        rows(
            "select a.audience_key, a.member_count, max(demand.min_members) as required_members "
            f"from {{batch}} a cross join lateral unnest(a.destinations) as dest(destination) join {demand} "
            "on demand.destination = dest.destination where a.is_syncable "
            "group by a.audience_key, a.member_count having a.member_count < max(demand.min_members)",
            "syncable_meets_destination_minimum",
            "A syncable audience holds at least as many members as each of its destinations demands.",
            show=("member_count", "required_members"),
        ),
        rows(
            "select audience_key, member_count, min_size, is_syncable from {batch} where is_syncable "
            "is distinct from (member_count >= min_size and coalesce(cardinality(destinations), 0) > 0)",
            "is_syncable_consistent",
            "is_syncable is true exactly when the audience has a destination and at least min_size members.",
            show=("member_count", "min_size", "is_syncable"),
        ),
        rows(
            "select a.audience_key, a.member_count, coalesce(m.members, 0) as members from {batch} a "
            f"left join (select audience_key, count(*) as members from {schema}.audience_members "
            "group by audience_key) m on m.audience_key = a.audience_key "
            "where a.member_count <> coalesce(m.members, 0)",
            "member_count_matches_members",
            f"member_count is the audience's number of rows in {schema}.audience_members.",
            show=("member_count", "members"),
        ),
        rows(
            "select a.audience_key, dest.destination from {batch} a "
            "cross join lateral unnest(a.destinations) as dest(destination) "
            f"where dest.destination not in ({known})",
            "destinations_known",
            "Every destination has a known minimum audience size (the gate cannot check others).",
            severity="warning",
            show=("destination",),
        ),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
