"""The shape every ingest DAG shares: one task per feed of its family, each publishing its raw table's Asset.

The DAG files in ``dags/`` call :func:`ingest_dag` with their schedule and documentation; the feeds come
from :mod:`audience.sources.catalog`. Nothing here touches a database or an API: it only wires.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from audience.assets import raw_asset
from audience.sources.catalog import task_chains

DEFAULT_ARGS = {"retries": 2, "retry_delay": pendulum.duration(minutes=1), "owner": "data-platform"}


def ingest_dag(
    dag_id: str,
    *,
    schedule: str,
    tags: list[str],
    doc_md: str | None,
    since_help: str = "Load records modified since this ISO date (e.g. 2026-01-31); empty = since last run.",
) -> DAG:
    """The ingest DAG ``dag_id``: a task per feed, wired in the chains of ``catalog.task_chains``."""
    with DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["audience", "ingest", *tags],
        doc_md=doc_md,
        default_args=DEFAULT_ARGS,
        params={
            "full_refresh": Param(False, type="boolean", description="Ignore the watermarks and reload."),
            "since": Param(None, type=["null", "string"], description=since_help),
        },
    ) as dag:
        # the chains of the catalogue: one API's feeds share its rate limit, so they run in turn
        for chain in task_chains(dag_id):
            previous = None
            for feed in chain:
                # priority: the default rule adds the weights of the tasks downstream, so a chain's
                # first task carries the whole chain's, and the scheduler starts a paced chain
                # first, then the longest
                @task(
                    task_id=feed.task_id, outlets=[raw_asset(feed.raw_table)], priority_weight=feed.priority
                )
                def load(task_id: str, params=None) -> dict:
                    from audience.pipeline import ingest  # noqa: PLC0415

                    return ingest(
                        task_id, full_refresh=bool(params["full_refresh"]), since=params.get("since")
                    )

                current = load(feed.task_id)
                if previous is not None:
                    previous >> current
                previous = current
    return dag
