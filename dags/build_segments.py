"""
### Build segments

Runs the dbt project (`dbt_project/`) as Airflow tasks through Cosmos — one
task per model, seed and snapshot, each a `dbt build` of that node (model then
its tests) — then the quality gate (Great Expectations). Only a passing gate
emits the `segments_validated` asset, which schedules `sync_audiences`.

Triggered by new raw data (`raw.hubspot__contacts`). The dbt profile comes
from the Airflow connection `warehouse`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from audience.assets import AUDIENCE_MEMBERS, RAW_HUBSPOT_CONTACTS, SEGMENTS_VALIDATED
from audience.dbt import dbt_task_group


@dag(
    dag_id="build_segments",
    schedule=[RAW_HUBSPOT_CONTACTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["audience", "dbt", "segments", "quality"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), "owner": "data-platform"},
)
def build_segments():
    dbt = dbt_task_group(group_id="dbt")

    @task(outlets=[AUDIENCE_MEMBERS, SEGMENTS_VALIDATED])
    def validate_segments(run_id=None) -> dict:
        from audience.pipeline import validate_segments as run

        return run(run_id=run_id)

    dbt >> validate_segments()


build_segments()
