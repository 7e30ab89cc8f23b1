"""
### Ingest CRM

Loads HubSpot contacts modified since the last run into `raw.hubspot__contacts`
(COPY, one transaction per batch with its watermark in `ops.ingest_state`).

Without an Airflow connection `hubspot` (password = private-app token) the
sandbox is used. Params: `full_refresh` reloads everything from the start,
`since` (ISO date) overrides the watermark for one run.

Publishes the `raw.hubspot__contacts` asset, which schedules `build_segments`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from audience.assets import RAW_HUBSPOT_CONTACTS


@dag(
    dag_id="ingest_crm",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["audience", "ingest", "crm"],
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), "owner": "data-platform"},
    params={
        "full_refresh": Param(False, type="boolean", description="Ignore the watermark and reload every record."),
        "since": Param(
            None,
            type=["null", "string"],
            description="Load records modified since this ISO date (e.g. 2026-01-31); empty = since last run.",
        ),
    },
)
def ingest_crm():
    @task(outlets=[RAW_HUBSPOT_CONTACTS])
    def load_hubspot_contacts(params=None) -> dict:
        from audience.pipeline import ingest_hubspot_contacts

        return ingest_hubspot_contacts(full_refresh=bool(params["full_refresh"]), since=params.get("since"))

    load_hubspot_contacts()


ingest_crm()
