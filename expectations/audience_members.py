"""Expectations for ``marts.audience_members``: what may leave for an ad platform.

One row per ``audience_key`` x ``person_id``; ``extern_id`` is the person id in
clear, every other key is a SHA-256 (64 lowercase hex) of a normalised value or
``''`` when the value is missing, never null. Only people with marketing
consent, no erasure request and an age of 18 or more (``AUDIENCE_GATE_MEMBER_MIN_AGE``)
may be members, and an empty table is a failure: syncing it would remove everyone
from every audience.

Each expectation carries ``meta={"check": ...}``, a stable short name used in
``ops.validation_runs`` and in gate failure messages.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from audience.identity import HASHED_MEMBER_COLUMNS
from audience.quality.config import GateConfig, load_config

SUITE_NAME = "audience_members"
SCHEMA = "marts"
TABLE = "audience_members"

HASH_COLUMNS = HASHED_MEMBER_COLUMNS
KEY_COLUMNS = ("audience_key", "person_id", "extern_id")
COLUMNS = (*KEY_COLUMNS, *HASH_COLUMNS)

# 64 lowercase hex characters, or the empty string for a missing value: two checks per column,
# lowercase hex only (a regular expression) and a length of 64 or 0 (LIKE patterns). One regular
# expression with the length in it, ^([0-9a-f]{64})?$, costs PostgreSQL's regex engine about 4 µs a
# value against 0.1 µs for these two: at 1M contacts, 107 s of the 151 s the gate spent in
# statements over half a second (README, Benchmark).
HASH_REGEX = r"^[0-9a-f]*$"
HASH_LENGTH_PATTERNS = ("", "_" * 64)
AUDIENCE_KEY_REGEX = r"^[a-z][a-z0-9_]*$"
MIN_AGE = 18  # the default of AUDIENCE_GATE_MEMBER_MIN_AGE (dbt var audience_min_age)


def _members_query(schema: str, where: str) -> str:
    """Rows of the batch (``{batch}``, filled in by GX) joined to their person, failing ``where``.

    Only ids are selected: GX keeps up to 200 returned rows in its result.
    """
    return (
        "select m.audience_key, m.person_id "
        "from {batch} m "
        f"left join {schema}.persons p on p.person_id = m.person_id "
        f"where {where}"
    )


def build_suite(schema: str = SCHEMA, config: GateConfig | None = None) -> gx.ExpectationSuite:
    """The suite for ``<schema>.audience_members`` (members are checked against ``<schema>.persons``)."""
    min_age = int((config or load_config()).member_min_age)
    expectations: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(COLUMNS), exact_match=False, meta={"check": "contract_columns_present"}
        ),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, meta={"check": "not_empty"}),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["audience_key", "person_id"], meta={"check": "one_row_per_audience_person"}
        ),
    ]
    for column in KEY_COLUMNS:
        expectations.append(
            gxe.ExpectColumnValuesToNotBeNull(column=column, meta={"check": f"{column}_not_null"})
        )
    expectations.append(
        gxe.ExpectColumnValuesToMatchRegex(
            column="audience_key", regex=AUDIENCE_KEY_REGEX, meta={"check": "audience_key_format"}
        )
    )
    expectations.append(
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="extern_id", column_B="person_id", meta={"check": "extern_id_is_person_id"}
        )
    )
    for column in HASH_COLUMNS:
        expectations.append(
            gxe.ExpectColumnValuesToNotBeNull(column=column, meta={"check": f"{column}_not_null"})
        )
        expectations.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=column, regex=HASH_REGEX, meta={"check": f"{column}_format"}
            )
        )
        expectations.append(
            gxe.ExpectColumnValuesToMatchLikePatternList(
                column=column,
                like_pattern_list=list(HASH_LENGTH_PATTERNS),
                match_on="any",
                meta={"check": f"{column}_length"},
            )
        )
    expectations += [
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=(
                "select audience_key, person_id from {batch} "
                "where coalesce(email_sha256, '') = '' and coalesce(phone_sha256, '') = ''"
            ),
            description="Every member has an email or a phone hash (the keys Meta matches best on).",
            meta={"check": "has_email_or_phone"},
        ),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=_members_query(schema, "p.person_id is null"),
            description=f"Every member is a person of {schema}.persons.",
            meta={"check": "member_is_a_person"},
        ),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=_members_query(
                schema, "p.person_id is not null and p.has_marketing_consent is not true"
            ),
            description="No member without marketing consent.",
            meta={"check": "member_has_consent"},
        ),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=_members_query(
                schema, "p.person_id is not null and p.is_erasure_requested is not false"
            ),
            description="No member who asked for erasure (or whose erasure flag is unknown).",
            meta={"check": "member_not_erased"},
        ),
        gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=_members_query(
                schema, f"p.person_id is not null and (p.age is null or p.age < {min_age})"
            ),
            description=f"No member under {min_age} or of unknown age.",
            meta={"check": "member_is_adult"},
        ),
    ]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=expectations)
