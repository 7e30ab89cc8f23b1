"""Drill: the bad-input corpus (tests/drills/corpus.py) through the real loaders, then dbt over it.

Every hostile record must either be in its raw table with its content intact, or in ``raw.rejects``
with a reason — never both, never neither, and no load may crash. Then ``dbt build`` runs over the
result and must not fail.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from audience import pipeline, warehouse
from drills import corpus

pytestmark = [pytest.mark.drills, pytest.mark.dbt]

TASKS = (
    "hubspot__contacts",
    "salesforce__contacts",
    "salesforce__leads",
    "facebook_pages__posts",
    "facebook_pages__comments",
    "files__contacts",
    "files__orders",
    "web_events__events",
)
RAW = {
    "hubspot": ("raw.hubspot__contacts", "hubspot", "contacts"),
    "salesforce_contacts": ("raw.salesforce__contacts", "salesforce", "contacts"),
    "salesforce_leads": ("raw.salesforce__leads", "salesforce", "leads"),
    "facebook_comments": ("raw.facebook__comments", "facebook", "comments"),
    "files_contacts": ("raw.files__contacts", "files", "contacts"),
    "files_orders": ("raw.files__orders", "files", "orders"),
    "web_events": ("raw.web_events__events", "web_events", "events"),
}
REASON = re.compile(r"^[a-z_]+: \S")


def _value(source: str, payload: dict[str, Any], key: str) -> Any:
    if source == "hubspot":
        return (payload.get("properties") or {}).get(key)
    return payload.get(key)


def _check(conn, case: corpus.Case) -> list[str]:
    """What is wrong with this case's outcome (empty when it is right)."""
    table, source, entity = RAW[case.source]
    tag = f"{case.source} {case.key[:40]!r} ({case.what})"
    like = "%" + case.key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if case.extra.get("no_id"):
        loaded = conn.execute(
            f"select payload, _updated_at from {table} where payload::text like %s", (like,)
        ).fetchall()
    else:
        loaded = conn.execute(
            f"select payload, _updated_at from {table} where _record_id = %s order by _updated_at",
            (case.extra.get("id", case.key),),
        ).fetchall()
    rejected = conn.execute(
        "select reason from raw.rejects where source = %s and entity = %s and payload like %s",
        (source, entity, like),
    ).fetchall()
    problems = []
    if loaded and rejected and not case.duplicate_of:
        problems.append(f"{tag}: both loaded and rejected ({[r[0] for r in rejected]})")
    if not loaded and not rejected:
        problems.append(f"{tag}: neither loaded nor rejected")
    if case.must_load and not loaded:
        problems.append(f"{tag}: must load, got {[r[0] for r in rejected]}")
    for (reason,) in rejected:
        if not REASON.match(reason):
            problems.append(f"{tag}: reason {reason!r} does not start with a code")
    if loaded:
        rows = case.extra.get("rows", 1)
        if len(loaded) != rows and source != "salesforce":
            problems.append(f"{tag}: {len(loaded)} rows loaded, expected {rows}")
        payload = loaded[-1][0]  # the latest version
        for key, want in (case.expected or {}).items():
            got = _value(case.source, payload, key)
            same = (
                float(got) == want
                if isinstance(want, float) and isinstance(got, int | float)
                else got == want
            )
            if not same:
                problems.append(f"{tag}: {key} is {str(got)[:60]!r}, expected {str(want)[:60]!r}")
    return problems


def test_hostile_corpus_loads_or_is_rejected_then_dbt_builds(
    fresh_warehouse, tmp_path, monkeypatch, sandbox_world
):
    from sandbox.server import start_background

    cases = corpus.write(sandbox_world)
    assert len(cases) >= 200
    handle = start_background(sandbox_world, tmp_path / "sandbox-state")
    monkeypatch.setenv("AUDIENCE_SANDBOX_URL", handle.url)
    monkeypatch.setenv("AUDIENCE_WORLD_DIR", str(sandbox_world))
    monkeypatch.setenv("AUDIENCE_AS_OF_DATE", "2026-11-01")
    try:
        summaries = {task: pipeline.ingest(task) for task in TASKS}
        again = {task: pipeline.ingest(task)["rows_loaded"] for task in TASKS}
    finally:
        handle.stop()
    assert again == dict.fromkeys(TASKS, 0)  # a re-run loads nothing twice, hostile or not

    with warehouse.connect() as conn:
        problems = [p for case in cases for p in _check(conn, case)]
        reasons = conn.execute("select reason from raw.rejects").fetchall()
        web_dups = conn.execute(
            "select count(*) from raw.web_events__events where _record_id = 'drill-ev-dup1'"
        ).fetchone()[0]
    assert not problems, f"{len(problems)} of {len(cases)} corpus records mishandled:\n" + "\n".join(problems)
    assert web_dups == 1
    assert summaries["web_events__events"]["rows_skipped"] >= 2
    # reasons name the field and the place, never the hostile value itself
    for (reason,) in reasons:
        assert "DROP TABLE" not in reason and "\x00" not in reason and len(reason) < 300, reason

    from dbt.cli.main import dbtRunner  # noqa: PLC0415

    started = time.monotonic()
    result = dbtRunner().invoke(
        [
            "--quiet",
            "--no-use-colors",
            "build",
            "--project-dir",
            str(corpus.PROJECT_DIR),
            "--profiles-dir",
            str(corpus.PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--vars",
            json.dumps({"as_of_date": "2026-11-01"}),
            "--exclude",
            "resource_type:unit_test",
        ]
    )
    failed = [
        f"{r.node.unique_id}: {r.status} {(r.message or '')[:300]}"
        for r in (result.result or [])
        if str(r.status) in {"error", "fail", "runtime error"}
    ]
    assert result.success, f"dbt build over the corpus failed: {result.exception or failed}"
    print(f"dbt build over the corpus: {time.monotonic() - started:.1f}s")
    with warehouse.connect() as conn:
        hostile_persons = conn.execute(
            "select count(*) from marts.person_source_ids where source = 'hubspot' and source_id like '99000%%'"
        ).fetchone()[0]
    assert hostile_persons > 0
