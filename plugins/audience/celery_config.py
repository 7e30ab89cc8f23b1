"""Celery settings for Airflow's CeleryExecutor: the provider's defaults, and workers that import dbt once.

Point Airflow at it with ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=audience.celery_config.CELERY_CONFIG``
(docker-compose.yaml and the cluster test do). Broker, result backend and concurrency still come from
the ``[celery]`` section as usual.

Each Airflow task runs in a process forked from a Celery pool process. Most of this project's tasks
are dbt nodes (one per model, through Cosmos): importing dbt, its PostgreSQL adapter and Cosmos takes
seconds, so the worker imports them once, before it forks its pool, and every task inherits them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import import_modules

log = logging.getLogger(__name__)

# what every dbt task imports (and the ingest and sync tasks' HTTP and database clients)
PRELOAD = (
    "airflow.sdk",
    "dbt.cli.main",
    "dbt.adapters.postgres",
    "cosmos",
    "cosmos.operators.local",
    "psycopg",
    "httpx",
    "audience.dbt",
    "audience.pipeline",
)

CELERY_CONFIG: dict[str, Any] = {
    **DEFAULT_CELERY_CONFIG,
    # a task takes seconds to minutes: one at a time per pool process, no hoarding by a busy worker
    "worker_prefetch_multiplier": 1,
}


@import_modules.connect
def preload(*_args: Any, **_kwargs: Any) -> None:
    """Import the heavy modules in the worker's main process (the signal fires before the pool forks)."""
    import importlib  # noqa: PLC0415

    for name in PRELOAD:
        # a missing module only costs time later, in the task that needs it
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    log.info("celery worker: preloaded %d modules", len(PRELOAD))
