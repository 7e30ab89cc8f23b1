"""Python model tasks: they read ``raw``, write ``ml``, and dbt reads ``ml`` as sources.

Each model module listed in ``MODULES`` declares ``DDL``: the ``create table if not
exists`` statements of its output tables, so that dbt can build before the task
has run once (see ``audience.warehouse.ensure_source_tables``).
"""

from __future__ import annotations

import importlib

import psycopg

# the model modules of this package that own ml.* tables, in the order their DDL is applied
MODULES: tuple[str, ...] = ("psychographic", "propensity")


def ensure_tables(conn: psycopg.Connection) -> None:
    """Create every ``ml`` output table that does not exist yet (idempotent)."""
    with conn.cursor() as cur:
        for name in MODULES:
            module = importlib.import_module(f"audience.ml.{name}")
            cur.execute(module.DDL)
