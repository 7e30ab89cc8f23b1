"""Test-wide set-up: Airflow's environment (before anything imports Airflow) and a throwaway warehouse."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from audience import runtime
from audience.settings import local_dir

# Airflow reads its configuration when first imported: point it at a test home now.
runtime.apply_env(runtime.airflow_env(local_dir() / "airflow-test"))
runtime.quiet_logging()


@pytest.fixture(scope="session")
def warehouse_server():
    """Connection parameters of the warehouse server (the embedded one unless AIRFLOW_CONN_WAREHOUSE is set)."""
    from audience import warehouse

    return warehouse.params()


@pytest.fixture()
def fresh_warehouse(warehouse_server, monkeypatch) -> Iterator:
    """A new, empty database on the warehouse server, used as the warehouse for one test."""
    import psycopg

    from audience import warehouse

    name = f"audience_test_{uuid.uuid4().hex[:10]}"
    admin = warehouse_server.libpq()
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    params = warehouse.WarehouseParams(
        warehouse_server.host, warehouse_server.port, warehouse_server.user, warehouse_server.password, name
    )
    for key, value in params.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield params
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture()
def sandbox_world(tmp_path_factory):
    """A small synthetic world (1,500 contacts) for the sandbox."""
    from sandbox.world import generate

    world = tmp_path_factory.mktemp("world")
    generate(world, contacts=1_500, events_per_contact=2, seed=7)
    return world


@pytest.fixture()
def sandbox(sandbox_world, tmp_path, monkeypatch):
    """The sandbox APIs over real HTTP in a background process; AUDIENCE_SANDBOX_URL points at it."""
    from sandbox.server import start_background

    handle = start_background(sandbox_world, tmp_path / "sandbox-state")
    monkeypatch.setenv("AUDIENCE_SANDBOX_URL", handle.url)
    # the file feeds (CRM drop, pixel events) read the same world's folders
    monkeypatch.setenv("AUDIENCE_WORLD_DIR", str(sandbox_world))
    try:
        yield handle
    finally:
        handle.stop()


def pytest_report_header(config):
    return f"AIRFLOW_HOME={os.environ.get('AIRFLOW_HOME')}"
