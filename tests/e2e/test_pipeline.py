"""The DAGs end to end through Airflow (dag.test) against the sandbox and a throwaway warehouse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from end_state import check_end_state, sandbox_members

from audience import dbt, demo, freshness, runtime, warehouse

pytestmark = pytest.mark.e2e


@pytest.mark.drills
def test_pipeline_end_to_end(fresh_warehouse, sandbox, sandbox_world, monkeypatch, capfd, caplog):
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
    with warehouse.connect() as conn:
        stage_runs_before = conn.execute("select count(*) from ops.stage_runs").fetchone()[0]
        gate_runs_before = conn.execute("select count(*) from ops.validation_runs").fetchone()[0]
    # the whole pipeline again: the models and the build see the inputs of their last success and skip
    demo.run_dags()
    stats_after = httpx.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()
    with warehouse.connect() as conn:
        stages = dict(conn.execute("select stage, count(*) from ops.stage_runs group by 1").fetchall())
        builds = [r[0] for r in conn.execute("select inputs from ops.stage_runs where stage = 'segments'")]
        rebuilt_because = freshness.what_changed(builds[0], builds[-1]) if len(builds) > 1 else []
        assert stages == {"psychographic": 1, "propensity": 1, "segments": 1}, rebuilt_because
        assert sum(stages.values()) == stage_runs_before
        assert conn.execute("select count(*) from ops.validation_runs").fetchone()[0] == gate_runs_before
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

    # no raw email, phone or name of the world in anything written outside the warehouse's data
    _assert_no_pii(sandbox_world, capfd, caplog)


def _assert_no_pii(world, capfd, caplog) -> None:
    from airflow import settings as airflow_settings  # noqa: PLC0415
    from drills import pii_scan  # noqa: PLC0415

    from audience.settings import local_dir  # noqa: PLC0415

    planted = pii_scan.planted_from_world(world)
    sources = "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(Path(dbt.project_dir()).rglob("*"))
        if path.suffix in {".sql", ".yml", ".csv"} and not {"target", "logs"} & set(path.parts)
    )
    planted = planted.without_values_in(sources)  # dbt unit tests' and seeds' own sample values
    assert len(planted) > 1000
    out, err = capfd.readouterr()
    hits: dict[str, list[str]] = {}
    for name, text in (("stdout", out), ("stderr", err), ("log records", caplog.text)):
        if found := pii_scan.findings(text, planted):
            hits[name] = found
    airflow_home = os.environ["AIRFLOW_HOME"]
    local = local_dir()
    hits.update(
        pii_scan.scan_files(
            [
                Path(airflow_home),  # task logs, configuration
                local / "reports",  # run reports
                local / "gx_data_docs",  # Great Expectations' Data Docs
                Path(dbt.project_dir()) / "target",  # dbt's compiled SQL, run results
                Path(dbt.project_dir()) / "logs",
                local / "pgserver.log",  # the warehouse server's log (errors quote values)
            ],
            planted,
        )
    )
    db_url = str(airflow_settings.engine.url)
    if db_url.startswith("sqlite"):  # XComs, rendered fields, task instance notes, audit log
        hits.update(pii_scan.scan_sqlite(Path(airflow_settings.engine.url.database), planted))
    else:
        with airflow_settings.engine.connect() as db:
            from sqlalchemy import text  # noqa: PLC0415

            values = [str(r[0]) for r in db.execute(text("select value from xcom"))]
        if found := pii_scan.findings("\n".join(values), planted):
            hits["xcom"] = found
    with warehouse.connect() as conn:
        hits.update(pii_scan.scan_warehouse(conn, planted))
    assert not hits, f"raw PII outside the warehouse's data: {json.dumps(hits, ensure_ascii=False)[:3000]}"
