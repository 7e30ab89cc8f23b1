"""The pipeline through a real Airflow cluster: scheduler, dag-processor, api-server and a Celery worker.

CeleryExecutor, metadata on PostgreSQL (a throwaway database), broker on Redis (its own queue on a
non-zero database): the production shape of docker-compose.yaml, on this machine. The DAGs chain
through their Assets as in production, and the end state is the one the in-process run
(``test_pipeline.py``) checks: the same small world, the same marts, each synced audience on the
sandbox equal to the mart's hashed members.

Skipped, with the reason, where the PostgreSQL server or Redis is absent (see ``cluster.py`` for the
settings that point at others).
"""

from __future__ import annotations

import json
import os
import time

import pytest
from cluster import Cluster, unavailable
from end_state import check_end_state

from audience import dbt, runtime

pytestmark = [pytest.mark.e2e, pytest.mark.celery]

INGEST_FIRST = ("ingest_crm", "ingest_social", "ingest_open_data")


def test_pipeline_on_celery_cluster(fresh_warehouse, sandbox, sandbox_world, tmp_path, monkeypatch):
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    timeout = float(os.environ.get("AUDIENCE_TEST_CLUSTER_TIMEOUT") or 1800)
    # as the in-process run: "today" is the world's date, the sandbox's INSEE limit is lifted; the
    # run report goes under this test's own state folder (the test reads it back from there)
    monkeypatch.setenv(
        "AUDIENCE_AS_OF_DATE", json.loads((sandbox_world / "world.json").read_text())["as_of"][:10]
    )
    monkeypatch.setenv("AUDIENCE_LOCAL_DIR", str(tmp_path / "local"))
    monkeypatch.delenv("AIRFLOW_CONN_INSEE", raising=False)
    runtime.relax_sandbox_open_data(sandbox.url)
    monkeypatch.setenv("AIRFLOW_CONN_INSEE", os.environ["AIRFLOW_CONN_INSEE"])
    dbt.ensure_manifest()

    timings: dict[str, float] = {}
    with Cluster(tmp_path / "airflow") as cluster:
        try:
            cluster.migrate()
            timings["migrate"] = time.monotonic() - started
            cluster.start()
            cluster.wait_for_dags(
                (*INGEST_FIRST, "ingest_web_events", "build_segments", "sync_audiences"), timeout=600
            )
            timings["parsed"] = time.monotonic() - started
            # Unpaused, each ingest DAG runs its latest interval. build_segments is scheduled on any
            # raw table, so it stays paused while three of the four ingest DAGs load: one build then
            # sees the whole world, as in the in-process run. The fourth (one task, the web events)
            # runs once build_segments is unpaused, and its Asset starts the build; the gate's
            # segments_validated starts the sync.
            cluster.wait_for_api(timeout=300)
            cluster.set_paused((*INGEST_FIRST, "sync_audiences"), paused=False)
            deadline = started + timeout
            first = cluster.wait_for_runs(INGEST_FIRST, deadline)
            timings["ingest"] = time.monotonic() - started
            # the next hour's runs would load nothing, but their Assets would start another build
            cluster.set_paused(INGEST_FIRST, paused=True)
            cluster.set_paused(("build_segments", "ingest_web_events"), paused=False)
            web = cluster.wait_for_runs(("ingest_web_events",), deadline)
            cluster.set_paused(("ingest_web_events",), paused=True)
            rest = cluster.wait_for_runs(("build_segments", "sync_audiences"), deadline)
            timings["pipeline"] = time.monotonic() - started
            runs = cluster.query("select dag_id, run_type, state from dag_run order by id")
            cpu = cluster.cpu_seconds()
        except BaseException:
            print(cluster.report())
            raise
    print(f"cluster wall times (s, cumulative): { {k: round(v) for k, v in timings.items()} }; CPU s: {cpu}")

    assert {first[d][1] for d in INGEST_FIRST} | {web["ingest_web_events"][1]} == {"scheduled"}
    # the chain went through the Assets: the build from the web events, the sync from the gate
    assert rest["build_segments"][1] == "asset_triggered"
    assert rest["sync_audiences"][1] == "asset_triggered"
    # one build, one sync: nothing ran twice
    assert sorted(d for d, _, _ in runs if d in {"build_segments", "sync_audiences"}) == [
        "build_segments",
        "sync_audiences",
    ]
    assert not [r for r in runs if r[2] == "failed"], runs
    check_end_state(sandbox.url, sandbox_world)
