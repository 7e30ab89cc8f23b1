"""Expectations for ``marts.event_transitions``: the first-order Markov chain of web behaviour.

One row per ``from_state`` x ``to_state``, probabilities 0 to 1, and each
state's outgoing probabilities summing to 1 (within
``AUDIENCE_GATE_PROBABILITY_TOLERANCE``).
"""

from __future__ import annotations

import great_expectations as gx

from audience.quality.config import GateConfig, load_config
from expectations._common import between, contract, not_null, rows

SUITE_NAME = "event_transitions"
SCHEMA = "marts"
TABLE = "event_transitions"

COLUMNS = ("from_state", "to_state", "transition_count", "probability")


def build_suite(schema: str = SCHEMA, config: GateConfig | None = None) -> gx.ExpectationSuite:
    """The suite for ``<schema>.event_transitions``."""
    config = config or load_config()
    tolerance = float(config.probability_tolerance)
    expectations = [
        *contract(COLUMNS, key=("from_state", "to_state")),
        *not_null("probability", "transition_count"),
        between("probability", 0, 1),
        rows(
            "select from_state, round(sum(probability)::numeric, 6) as probability_sum from {batch} "
            f"group by from_state having abs(sum(probability) - 1) > {tolerance!r}",
            "outgoing_probabilities_sum_to_1",
            "Each state's outgoing probabilities sum to 1.",
            show=("from_state", "probability_sum"),
        ),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
