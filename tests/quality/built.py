"""A fully built warehouse for the gate, statistics and report tests, made once per test session.

A synthetic world (3,000 contacts, 5 events each) goes through every loader against the sandbox,
the two Python models and ``dbt build``, into a database on the test server. Tests copy it with
``CREATE DATABASE ... TEMPLATE`` (fast) and corrupt their copy. ``AUDIENCE_TEST_BUILT_TEMPLATE``
names an existing built database to use instead (a developer's shortcut; it is not dropped).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path

import psycopg

from audience import warehouse

_built: str | None = None
_owned = False

ENV_VARS = (
    "AIRFLOW_CONN_WAREHOUSE",
    "AIRFLOW_CONN_INSEE",
    "AUDIENCE_SANDBOX_URL",
    "AUDIENCE_WORLD_DIR",
    "AUDIENCE_AS_OF_DATE",
    "WAREHOUSE_HOST",
    "WAREHOUSE_PORT",
    "WAREHOUSE_USER",
    "WAREHOUSE_PASSWORD",
    "WAREHOUSE_DBNAME",
)


def template() -> str:
    """The name of the built database (built on first call)."""
    global _built, _owned
    if _built is None:
        given = os.environ.get("AUDIENCE_TEST_BUILT_TEMPLATE")
        if given:
            _built = given
        else:
            _built = _build()
            _owned = True
    return _built


def drop() -> None:
    global _built
    if _built and _owned:
        base = warehouse.params()
        with psycopg.connect(**base.libpq("postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{_built}" with (force)')
    _built = None


def _build() -> str:
    from audience import dbt, pipeline, runtime
    from audience.sources.catalog import FEEDS
    from sandbox.server import start_background
    from sandbox.world import generate

    base = warehouse.params()
    name = f"test_built_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**base.libpq("postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    params = warehouse.WarehouseParams(base.host, base.port, base.user, base.password, name)
    saved = {k: os.environ.get(k) for k in ENV_VARS}
    tmp = Path(tempfile.mkdtemp(prefix="audience-built-"))
    world = tmp / "world"
    meta = generate(world, contacts=3_000, events_per_contact=5, seed=21)
    handle = start_background(world, tmp / "sandbox")
    try:
        os.environ.update(params.env())
        os.environ["AUDIENCE_SANDBOX_URL"] = handle.url
        os.environ["AUDIENCE_WORLD_DIR"] = str(world)
        os.environ["AUDIENCE_AS_OF_DATE"] = json.loads(json.dumps(meta["as_of"]))[:10]
        os.environ.pop("AIRFLOW_CONN_INSEE", None)
        runtime.relax_sandbox_open_data(handle.url)
        with warehouse.connect() as conn:
            warehouse.ensure_schemas(conn)
        for feed in FEEDS:
            pipeline.ingest(feed.task_id)
        pipeline.psychographic_profiles()
        pipeline.purchase_propensity()
        dbt.run(["build"], env=dict(params.env(), AUDIENCE_AS_OF_DATE=os.environ["AUDIENCE_AS_OF_DATE"]))
    finally:
        handle.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return name
