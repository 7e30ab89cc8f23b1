"""Drill: the warehouse restarts while a task is loading; the task fails clearly, its retry succeeds.

A dedicated embedded PostgreSQL (its own data folder and port) is restarted with ``pg_ctl`` in the
middle of a HubSpot load, between two pages: the rest of the test suite's server is not touched.
"""

from __future__ import annotations

import json
import traceback

import pytest

from audience import pipeline, warehouse
from audience.sources import hubspot

pytestmark = pytest.mark.drills


@pytest.fixture()
def own_server(tmp_path, monkeypatch):
    """A PostgreSQL of this test's own, as the warehouse (AIRFLOW_CONN_WAREHOUSE points at it)."""
    server = warehouse.EmbeddedPostgres(tmp_path / "pg" / "pgdata", port=warehouse._free_port())
    params = server.params()  # initdb + start
    for key, value in params.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield server
    finally:
        server.stop()


def _world_contacts(world) -> list[dict]:
    with open(world / "hubspot_contacts.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_restart_mid_load_fails_clearly_then_the_retry_loads_everything_once(
    own_server, sandbox, sandbox_world, monkeypatch
):
    contacts = _world_contacts(sandbox_world)
    original = hubspot.HubSpotSearch.iter_records
    restarted = []

    def iter_then_restart(self, watermark, state):
        for n, item in enumerate(original(self, watermark, state)):
            if n == 300 and not restarted:
                # the COPY has taken 300 rows; the server goes down and comes back before the next page
                # (stop + start: pg_ctl restart would start the server without its log file)
                assert own_server.stop()
                own_server.start()
                restarted.append(n)
            yield item

    monkeypatch.setattr(hubspot.HubSpotSearch, "iter_records", iter_then_restart)
    with pytest.raises(warehouse.WarehouseError) as failed:
        pipeline.ingest("hubspot__contacts")
    assert restarted == [300]
    message = str(failed.value)
    # says what happened and what to do, in one line, without the server's text or any contact data
    assert message.startswith("ingest hubspot__contacts: the warehouse connection was lost mid-run")
    assert "retry" in message and "audience warehouse start" in message
    assert "\n" not in message and len(message) < 600
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    # what Airflow logs is this exception's traceback: only our frames, no chain of psycopg errors
    logged = "".join(traceback.format_exception(failed.value))
    assert "During handling of the above exception" not in logged
    assert "direct cause" not in logged
    for contact in contacts[:400]:
        props = contact["properties"]
        for key in ("email", "phone", "lastname"):
            if props.get(key):
                assert props[key] not in logged, key

    with warehouse.connect() as conn:
        assert conn.execute("select count(*) from raw.hubspot__contacts").fetchone()[0] == 0
        assert hubspot.get_watermark(conn, "hubspot", "contacts") is None

    monkeypatch.setattr(hubspot.HubSpotSearch, "iter_records", original)
    summary = pipeline.ingest("hubspot__contacts")  # the task's retry
    with warehouse.connect() as conn:
        n, distinct = conn.execute(
            "select count(*), count(distinct _record_id) from raw.hubspot__contacts"
        ).fetchone()
        batches = conn.execute("select count(*) from ops.ingest_batches").fetchone()[0]
    assert summary["rows_loaded"] == n == distinct == len(contacts)
    assert batches == 1


def test_only_a_broken_connection_is_reported_as_lost():
    import psycopg

    @pipeline.warehouse_task("step {0}")
    def step(name, exc):
        raise exc

    with pytest.raises(warehouse.WarehouseError, match=r"^step x: the warehouse connection was lost"):
        step("x", psycopg.errors.AdminShutdown())
    with pytest.raises(warehouse.WarehouseError, match="SQLSTATE 08006"):
        step("x", psycopg.errors.ConnectionFailure())
    # a timeout, a deadlock or a data error is the step's own failure, raised as it is
    for exc in (
        psycopg.errors.QueryCanceled(),
        psycopg.errors.DeadlockDetected(),
        psycopg.errors.DataError(),
    ):
        with pytest.raises(type(exc)):
            step("x", exc)
