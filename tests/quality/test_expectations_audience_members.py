"""The audience_members suite as data: what it checks, without a database."""

from __future__ import annotations

import re

import great_expectations.expectations as gxe

from expectations import audience_members as suite_module


def _by_check(suite) -> dict[str, object]:
    return {e.meta["check"]: e for e in suite.expectations}


def test_suite_identity_and_unique_check_names() -> None:
    suite = suite_module.build_suite()
    assert suite.name == "audience_members"
    assert (suite_module.SCHEMA, suite_module.TABLE) == ("marts", "audience_members")
    names = [e.meta["check"] for e in suite.expectations]
    assert len(names) == len(set(names))
    assert all(e.severity.value == "critical" for e in suite.expectations)


def test_every_hash_column_is_not_null_and_hex_or_empty() -> None:
    checks = _by_check(suite_module.build_suite())
    for column in suite_module.HASH_COLUMNS:
        not_null = checks[f"{column}_not_null"]
        fmt = checks[f"{column}_format"]
        assert isinstance(not_null, gxe.ExpectColumnValuesToNotBeNull) and not_null.column == column
        assert isinstance(fmt, gxe.ExpectColumnValuesToMatchRegex) and fmt.column == column
        assert fmt.regex == suite_module.HASH_REGEX
        length = checks[f"{column}_length"]
        assert isinstance(length, gxe.ExpectColumnValuesToMatchLikePatternList) and length.column == column
        assert length.like_pattern_list == list(suite_module.HASH_LENGTH_PATTERNS)
        assert length.match_on == "any"


def _like(pattern: str, value: str) -> bool:
    """SQL LIKE for patterns of '_' and plain characters only (what HASH_LENGTH_PATTERNS hold)."""
    return len(pattern) == len(value) and all(p in ("_", v) for p, v in zip(pattern, value, strict=True))


def test_hash_checks_together_accept_digests_and_empty_only() -> None:
    pattern = re.compile(suite_module.HASH_REGEX)

    def accepted(value: str) -> bool:
        return bool(pattern.match(value)) and any(_like(p, value) for p in suite_module.HASH_LENGTH_PATTERNS)

    assert accepted("0123456789abcdef" * 4)
    assert accepted("")
    for bad in ("0123456789ABCDEF" * 4, "abc", "a" * 63, "a" * 65, "jane@example.com", " " + "a" * 64):
        assert not accepted(bad), bad


def test_table_level_contract() -> None:
    checks = _by_check(suite_module.build_suite())
    assert checks["not_empty"].min_value == 1
    assert checks["one_row_per_audience_person"].column_list == ["audience_key", "person_id"]
    assert set(checks["contract_columns_present"].column_set) == set(suite_module.COLUMNS)
    for column in ("audience_key", "person_id", "extern_id"):
        assert checks[f"{column}_not_null"].column == column


def test_membership_rules_are_queries_on_the_batch_joined_to_persons() -> None:
    checks = _by_check(suite_module.build_suite(schema="analytics"))
    rules = {
        "member_has_consent": "has_marketing_consent is not true",
        "member_not_erased": "is_erasure_requested is not false",
        "member_is_adult": "p.age < 18",
        "member_is_a_person": "p.person_id is null",
    }
    for check, condition in rules.items():
        query = checks[check].unexpected_rows_query
        assert "{batch}" in query
        assert "left join analytics.persons p" in query
        assert condition in query
        assert "email" not in query.split("from")[0], "rule queries select ids only"
    assert "{batch}" in checks["has_email_or_phone"].unexpected_rows_query
