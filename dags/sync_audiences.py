"""
### Sync audiences

Keeps every audience on every destination equal to `marts.audience_members`:
the difference with what the platform holds (`ops.sync_state`) is sent in
batches, each recorded only after the platform acknowledged it. One mapped task
per audience × destination.

Scheduled on `segments_validated`, which only a passing quality gate emits.
Without an Airflow connection `facebook_ads` / `linkedin_ads` the sandbox is used.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from audience.assets import SEGMENTS_VALIDATED


@dag(
    dag_id="sync_audiences",
    schedule=[SEGMENTS_VALIDATED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["audience", "sync", "facebook", "linkedin"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), "owner": "data-platform"},
    params={
        "audiences": Param(
            [], type="array", items={"type": "string"}, description="Audience keys to sync; empty = all."
        ),
        "destinations": Param(
            ["facebook", "linkedin"],
            type="array",
            items={"type": "string", "enum": ["facebook", "linkedin"]},
            description="Destinations to sync.",
        ),
        "dry_run": Param(False, type="boolean", description="Compute and report the changes, send nothing."),
        "full_refresh": Param(False, type="boolean", description="Replace each audience's members."),
    },
)
def sync_audiences():
    @task
    def plan(params=None) -> list[dict]:
        from audience.pipeline import sync_targets

        return sync_targets(params.get("audiences") or None, params.get("destinations") or None)

    @task(map_index_template="{{ sync_label }}")
    def sync(target: dict, params=None) -> dict:
        from airflow.sdk import get_current_context

        from audience.pipeline import sync_one

        get_current_context()["sync_label"] = f"{target['audience_key']} → {target['destination']}"

        return sync_one(
            target["audience_key"],
            target["destination"],
            dry_run=bool(params["dry_run"]),
            full_refresh=bool(params["full_refresh"]),
        )

    sync.expand(target=plan())


sync_audiences()
