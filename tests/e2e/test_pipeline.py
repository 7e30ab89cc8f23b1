"""The DAGs end to end through Airflow (dag.test) against the sandbox and a throwaway warehouse."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from end_state import check_end_state, sandbox_members

from audience import dbt, demo, runtime, warehouse

pytestmark = pytest.mark.e2e


def test_pipeline_end_to_end(fresh_warehouse, sandbox, sandbox_world, monkeypatch):
    # as the demo does: "today" is the world's date, and the sandbox's INSEE limit is lifted
    monkeypatch.setenv(
        "AUDIENCE_AS_OF_DATE", json.loads((sandbox_world / "world.json").read_text())["as_of"][:10]
    )
    monkeypatch.delenv("AIRFLOW_CONN_INSEE", raising=False)
    runtime.relax_sandbox_open_data(sandbox.url)
    monkeypatch.setenv("AIRFLOW_CONN_INSEE", os.environ["AIRFLOW_CONN_INSEE"])  # undone after the test
    runtime.migrate_airflow_db()
    dbt.ensure_manifest()
    timings = demo.run_dags()
    assert set(timings) == set(demo.PIPELINE)

    mart = check_end_state(sandbox.url, sandbox_world)

    # a second run with no change: ingest loads nothing, the sync makes no platform call
    stats_before = httpx.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()
    # ingest and sync again (the segments would rebuild identically: that costs minutes, proves little)
    demo.run_dags(tuple(d for d in demo.PIPELINE if d != "build_segments"))
    stats_after = httpx.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()
    with warehouse.connect() as conn:
        last = conn.execute(
            "select rows_loaded from ops.ingest_batches order by loaded_at desc limit 1"
        ).fetchone()[0]
        run = conn.execute(
            "select added, removed, requests from ops.sync_runs order by started_at desc limit 1"
        ).fetchone()
    assert last == 0
    assert run == (0, 0, 0)
    graph_calls = {k: v for k, v in stats_after.items() if "users" in k}
    assert graph_calls == {k: v for k, v in stats_before.items() if "users" in k}, json.dumps(stats_after)
    assert sandbox_members(sandbox.url, "consenting_adults") == mart
