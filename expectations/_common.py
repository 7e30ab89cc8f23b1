"""Helpers shared by the suite modules (private: not a suite itself).

Every expectation carries ``meta={"check": ...}``, a stable short name used in
``ops.validation_runs`` and in gate failure messages. Columns that hold no PII
(probabilities, tiers, bands, codes) may show their failing values
(``sample_values``); rule queries list the extra columns their failing rows may
show (``sample_columns``) beside ids, keys and hashes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import great_expectations.expectations as gxe

ISO2_REGEX = r"^[A-Z]{2}$"
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+", "under_18", "unknown")
MIN_AGE, MAX_AGE = 13, 120


def contract(columns: Sequence[str], key: Sequence[str] | None = None) -> list[gxe.Expectation]:
    """Columns present, the table not empty, and its key unique and not null."""
    out: list[gxe.Expectation] = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(columns), exact_match=False, meta={"check": "contract_columns_present"}
        ),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, meta={"check": "not_empty"}),
    ]
    for column in key or ():
        out.append(gxe.ExpectColumnValuesToNotBeNull(column=column, meta={"check": f"{column}_not_null"}))
    if key and len(key) == 1:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=key[0], meta={"check": f"{key[0]}_unique"}))
    elif key:
        out.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(key), meta={"check": "_".join(key) + "_unique"}
            )
        )
    return out


def not_null(*columns: str) -> list[gxe.Expectation]:
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, meta={"check": f"{c}_not_null"}) for c in columns]


def in_set(column: str, values: Iterable[object], *, severity: str = "critical") -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=list(values),
        severity=severity,
        meta={"check": f"{column}_in_set", "sample_values": True},
    )


def between(
    column: str, low: float | None, high: float | None, *, severity: str = "critical"
) -> gxe.Expectation:
    """Values (nulls ignored) within ``[low, high]``."""
    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=low,
        max_value=high,
        severity=severity,
        meta={"check": f"{column}_range", "sample_values": True},
    )


def regex(column: str, pattern: str, check: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToMatchRegex(
        column=column, regex=pattern, meta={"check": check, "sample_values": True}
    )


def rows(
    query: str,
    check: str,
    description: str,
    *,
    severity: str = "critical",
    show: Sequence[str] = (),
) -> gxe.UnexpectedRowsExpectation:
    """A rule as a query over the batch (``{batch}``) returning the rows that break it.

    Select ids, keys and the non-PII columns listed in ``show`` only: they are what a
    failure message shows.
    """
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=query,
        description=description,
        severity=severity,
        meta={"check": check, "sample_columns": list(show)},
    )


def in_persons(schema: str, alias: str = "t") -> gxe.UnexpectedRowsExpectation:
    """Every row's person_id is a person of ``<schema>.persons``."""
    return rows(
        f"select {alias}.person_id from {{batch}} {alias} "
        f"left join {schema}.persons p on p.person_id = {alias}.person_id where p.person_id is null",
        "person_is_a_person",
        f"Every row's person_id is a person of {schema}.persons.",
    )
