"""
### Build segments

1. **Models** (Python, schema `ml`): psychographic profiles (social comments →
   embeddings → interest clusters) and purchase propensity (gradient boosting,
   trained on history, held-out AUC recorded per run). dbt reads both as sources.
2. **dbt** (`dbt_project/`) through Cosmos — one task per model, seed and
   snapshot, each a `dbt build` of that node (model then its tests): persons
   (identity resolution), demographic, behavioural and psychographic segments,
   personas, KPIs, audiences.
3. **Quality gate** (Great Expectations suites per mart, row counts against the
   previous passing run, statistical checks). Only a passing gate emits the
   `segments_validated` asset, which schedules `sync_audiences`; a failing
   check fails the task with the check, the table and the failing values.
4. **Run report**: one static HTML page per run (`.local/reports/`), written
   whether the gate passed or not.

**Nothing new, nothing rebuilt.** Each model, and the build as a whole (step
`segments_changed`), keeps a fingerprint of what it read (`ops.stage_runs`): the
raw tables' ingest ledger, the code, the as-of date. When they are those of the
last success (for the build: the last build the gate judged), the step is skipped,
and so are dbt, the gate and the report; if the gate failed on those very inputs,
`segments_changed` fails at once instead, naming the checks. The `force` param
rebuilds anyway.

Triggered by new CRM contacts, web events, social comments or open data. The dbt profile comes from the
Airflow connection `warehouse`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from audience.assets import (
    AUDIENCE_MEMBERS,
    ML_PROPENSITY,
    ML_PSYCHOGRAPHIC,
    RAW_FACEBOOK_COMMENTS,
    RAW_FILES_CONTACTS,
    RAW_HUBSPOT_CONTACTS,
    RAW_INSEE_COMMUNES,
    RAW_SALESFORCE_CONTACTS,
    RAW_WEB_EVENTS,
    SEGMENTS_VALIDATED,
)
from audience.dbt import dbt_task_group


@dag(
    dag_id="build_segments",
    schedule=(
        RAW_HUBSPOT_CONTACTS
        | RAW_SALESFORCE_CONTACTS
        | RAW_FILES_CONTACTS
        | RAW_WEB_EVENTS
        | RAW_FACEBOOK_COMMENTS
        | RAW_INSEE_COMMUNES
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["audience", "dbt", "segments", "ml", "quality"],
    doc_md=__doc__,
    params={
        "force": Param(
            False,
            type="boolean",
            description="Rebuild even when no input changed since the last build the quality gate judged.",
        ),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1), "owner": "data-platform"},
)
def build_segments():
    @task(outlets=[ML_PSYCHOGRAPHIC])
    def psychographic_profiles(params=None) -> dict:
        from audience.pipeline import psychographic_profiles as run

        return run(force=bool((params or {}).get("force")))

    @task(outlets=[ML_PROPENSITY])
    def purchase_propensity(params=None) -> dict:
        from audience.pipeline import purchase_propensity as run

        return run(force=bool((params or {}).get("force")))

    # nothing new since the last validated build: skip dbt, the gate and the report (all downstream)
    @task.short_circuit
    def segments_changed(params=None) -> dict | None:
        from audience.pipeline import segments_changed as check

        return check(force=bool((params or {}).get("force")))

    dbt = dbt_task_group(group_id="dbt")

    @task(outlets=[AUDIENCE_MEMBERS, SEGMENTS_VALIDATED])
    def validate_segments(inputs: dict, run_id=None) -> dict:
        from audience.pipeline import validate_segments as run

        return run(run_id=run_id, inputs=inputs)

    # the run report is written whether the gate passed or not: it shows why
    @task(trigger_rule="all_done")
    def run_report(run_id=None) -> dict:
        from audience.pipeline import run_report as run

        return run(run_id=run_id)

    # the run's outcome is the gate's: with the report (all_done) as the only leaf, a failed gate
    # would still end the run "success"; this leaf is upstream_failed whenever the gate failed
    @task
    def segments_validated() -> dict:
        return {"validated": True}

    changed = segments_changed()
    gate = validate_segments(changed)
    report = run_report()
    [psychographic_profiles(), purchase_propensity()] >> changed >> dbt >> gate >> report
    [gate, report] >> segments_validated()


build_segments()
