"""``audience demo``: the whole pipeline through Airflow on the embedded default.

Starts (or reuses) the embedded warehouse, generates (or reuses) the synthetic
world, runs the sandbox APIs in a background process, runs the DAGs with
Airflow's ``dag.test()`` in order — ingest → dbt + quality gate → sync — and
prints a summary read back from the warehouse and from the sandbox platform.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from audience import runtime

log = logging.getLogger("audience.demo")

PIPELINE = (
    "ingest_crm",
    "ingest_web_events",
    "ingest_social",
    "ingest_open_data",
    "build_segments",
    "sync_audiences",
)


class DemoFailed(RuntimeError):
    pass


def prepare(*, contacts: int | None = None) -> dict[str, Any]:
    """Everything the DAGs need, on the embedded default; returns what was set up."""
    runtime.apply_env(runtime.airflow_env())
    runtime.quiet_logging()
    from audience import dbt, warehouse  # noqa: PLC0415

    params = warehouse.params()
    os.environ.update(params.env())
    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
    world = runtime.ensure_world(contacts=contacts)
    # the synthetic world is frozen at its own date: segments count "today" from there
    as_of = runtime.world_as_of()
    if as_of and not os.environ.get("AUDIENCE_AS_OF_DATE"):
        os.environ["AUDIENCE_AS_OF_DATE"] = as_of
    runtime.write_dotenv({"AUDIENCE_AS_OF_DATE": os.environ["AUDIENCE_AS_OF_DATE"]} if as_of else None)
    runtime.migrate_airflow_db()
    dbt.ensure_manifest()
    return {"warehouse": params.redacted(), "world": world}


def run_dags(
    dag_ids: tuple[str, ...] = PIPELINE, run_conf: dict[str, dict] | None = None, *, fail_fast: bool = True
) -> dict[str, float]:
    """Run the DAGs in order with ``dag.test()``; raise DemoFailed naming the failed tasks."""
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise DemoFailed(f"DAG import errors: {bag.import_errors}")
    timings: dict[str, float] = {}
    for dag_id in dag_ids:
        dag = bag.dags.get(dag_id)
        if dag is None:
            raise DemoFailed(f"DAG {dag_id} not found in {bag.dag_folder}")
        if fail_fast:
            # scheduled runs keep their retries; an interactive demo or test should fail at once
            for task in dag.tasks:
                task.retries = 0
        started = time.monotonic()
        dag_run = dag.test(run_conf=(run_conf or {}).get(dag_id))
        timings[dag_id] = round(time.monotonic() - started, 1)
        state = str(getattr(dag_run, "state", "")).lower()
        if not state.endswith("success"):
            failed = _failed_tasks(dag_run)
            raise DemoFailed(f"DAG {dag_id} ended {state}; failed tasks: {failed or 'unknown'}")
        log.info("%s: success in %.1fs", dag_id, timings[dag_id])
    return timings


def _failed_tasks(dag_run: Any) -> list[str]:
    try:
        return [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state).lower().endswith("failed")]
    except Exception:  # noqa: BLE001 - best effort for the message
        return []


def collect_summary(sandbox_url: str) -> dict[str, Any]:
    """Read back what the run produced: warehouse counts and the sandbox platform's audiences."""
    import httpx  # noqa: PLC0415

    from audience.warehouse import connect  # noqa: PLC0415

    out: dict[str, Any] = {}
    with connect() as conn:
        out["ingest"] = []
        for source, entity, rows, rejected in conn.execute(
            """
            select distinct on (source, entity) source, entity, rows_loaded, rows_rejected
            from ops.ingest_batches order by source, entity, loaded_at desc
            """
        ).fetchall():
            # names come from ops.ingest_batches, written by the loaders from the feed catalogue
            total = conn.execute(f'select count(*) from raw."{source}__{entity}"').fetchone()[0]
            out["ingest"].append(
                {
                    "source": source,
                    "entity": entity,
                    "last_batch_rows": int(rows),
                    "rejected": int(rejected),
                    "rows_in_raw": int(total),
                }
            )
        out["persons"] = conn.execute("select count(*) from marts.persons").fetchone()[0]
        out["source_records"] = conn.execute("select count(*) from marts.person_source_ids").fetchone()[0]
        out["segments"] = {
            band: int(n)
            for band, n in conn.execute(
                "select age_band, count(*) from marts.seg_age_band group by 1 order by 1"
            ).fetchall()
        }
        out["tiers"] = dict(
            conn.execute(
                "select engagement_tier, count(*) from marts.person_engagement group by 1 order by 1"
            ).fetchall()
        )
        out["interests"] = dict(
            conn.execute(
                "select coalesce(interest_label, case when has_text then 'unlabelled' else 'no text' end), count(*) "
                "from marts.person_psychographics group by 1 order by 2 desc"
            ).fetchall()
        )
        out["personas"] = conn.execute(
            "select count(*), min(persona_size), max(persona_size) from marts.personas where persona_id <> 'other'"
        ).fetchone()
        out["models"] = {
            "propensity_auc_holdout": conn.execute(
                "select auc_holdout from ml.model_runs order by trained_at desc limit 1"
            ).fetchone(),
            "psychographic": conn.execute(
                "select k, round(silhouette::numeric, 3) from ml.cluster_selection where is_chosen "
                "and run_id = (select run_id from ml.psychographic_runs order by finished_at desc limit 1)"
            ).fetchone(),
        }
        out["catalogue"] = [
            dict(zip(("audience", "members", "syncable", "destinations"), row, strict=True))
            for row in conn.execute(
                "select audience_key, member_count, is_syncable, destinations from marts.audiences order by 1"
            ).fetchall()
        ]
        out["validation"] = _validation_verdict(conn)
        from audience.settings import local_dir  # noqa: PLC0415

        latest = local_dir() / "reports" / "latest.html"
        out["report"] = str(latest) if latest.exists() else None
        out["audiences"] = {
            key: int(n)
            for key, n in conn.execute(
                "select audience_key, count(*) from marts.audience_members group by 1 order by 1"
            ).fetchall()
        }
        # what each destination should hold: Facebook a row per member; LinkedIn one per email hash
        out["expected"] = {
            "facebook": dict(out["audiences"]),
            "linkedin": {
                key: int(n)
                for key, n in conn.execute(
                    "select audience_key, count(distinct email_sha256) from marts.audience_members "
                    "where email_sha256 <> '' group by 1"
                ).fetchall()
            },
        }
        out["sync_runs"] = [
            dict(
                zip(
                    ("audience", "destination", "added", "removed", "unchanged", "requests", "outcome"),
                    row,
                    strict=True,
                )
            )
            for row in conn.execute(
                """
                select distinct on (audience_key, destination)
                       audience_key, destination, added, removed, unchanged, requests, outcome
                from ops.sync_runs order by audience_key, destination, started_at desc
                """
            ).fetchall()
        ]
    out["platform"] = {}
    for destination, path in (("facebook", "facebook/audiences"), ("linkedin", "linkedin/segments")):
        resp = httpx.get(f"{sandbox_url}/_sandbox/{path}", timeout=30)
        resp.raise_for_status()
        out["platform"][destination] = resp.json()
    return out


def _validation_verdict(conn: Any) -> dict[str, Any]:
    row = conn.execute(
        """
        select run_id, count(*) filter (where success),
               count(*) filter (where not success and severity = 'critical'),
               count(*) filter (where not success and severity <> 'critical')
        from ops.validation_runs
        where run_id = (select run_id from ops.validation_runs order by run_at desc limit 1)
        group by run_id
        """
    ).fetchone()
    if not row:
        return {"verdict": "not run"}
    return {
        "run_id": row[0],
        "passed": int(row[1]),
        "failed": int(row[2]),
        "warnings": int(row[3]),
        "verdict": "PASS" if row[2] == 0 else "FAIL",
    }


def _platform_count(platform: Any, audience_key: str) -> int | None:
    items = (
        platform.get("audiences", platform.get("segments", platform))
        if isinstance(platform, dict)
        else platform
    )
    for item in items or []:
        if item.get("name") == audience_key:
            return int(item.get("member_count", item.get("members", 0)))
    return None


def render(summary: dict[str, Any], timings: dict[str, float], total_s: float) -> str:
    lines = ["", "=== audience demo: summary ==="]
    lines.append("Rows loaded per source:")
    for item in summary["ingest"]:
        lines.append(
            f"  {item['source'] + '.' + item['entity']:<26} this run {item['last_batch_rows']:>7,}  "
            f"rejected {item['rejected']:>5,}  in raw {item['rows_in_raw']:>8,}"
        )
    lines.append(f"Persons: {summary['persons']:,} (from {summary['source_records']:,} CRM records)")
    lines.append("Age bands: " + ", ".join(f"{k} {v:,}" for k, v in summary["segments"].items()))
    lines.append("Engagement tiers: " + ", ".join(f"{k} {v:,}" for k, v in summary["tiers"].items()))
    lines.append(
        "Interests (from social comments): "
        + ", ".join(f"{k} {v:,}" for k, v in summary["interests"].items())
    )
    n_personas, smallest, largest = summary["personas"]
    lines.append(f"Personas: {n_personas} (sizes {smallest}–{largest}, plus 'other')")
    auc = summary["models"]["propensity_auc_holdout"]
    psycho = summary["models"]["psychographic"]
    lines.append(
        "Models: propensity held-out AUC "
        + (f"{float(auc[0]):.3f}" if auc and auc[0] is not None else "-")
        + "; interest clusters "
        + (f"k={psycho[0]} (silhouette {psycho[1]})" if psycho else "-")
    )
    v = summary["validation"]
    lines.append(
        f"Validation: {v['verdict']}"
        + (
            f" ({v['passed']} checks passed, {v['failed']} critical failed, {v['warnings']} warnings)"
            if "passed" in v
            else ""
        )
    )
    if summary.get("report"):
        lines.append(f"Run report: {summary['report']}")
    lines.append("Audiences (warehouse → platform, as the sandbox now holds them):")
    for item in summary["catalogue"]:
        key, n = item["audience"], summary["audiences"].get(item["audience"], 0)
        runs = [r for r in summary["sync_runs"] if r["audience"] == key]
        if not runs:
            why = "below its minimum size" if not item["syncable"] else "not synced"
            lines.append(f"  {key:<34} members {n:>7,}  ({why}; not sent)")
            continue
        for r in runs:
            dest = r["destination"]
            n = summary["expected"].get(dest, {}).get(key, 0)
            held = _platform_count(summary["platform"].get(dest, {}), key)
            match = "match" if held == n else "MISMATCH"
            lines.append(
                f"  {key:<34} {dest:<9} members {n:>7,}  platform holds "
                f"{held if held is not None else '-':>7}  ({match}; this run +{r['added']:,} −{r['removed']:,}, "
                f"{r['outcome']})"
            )
    lines.append("DAG wall times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))
    lines.append(f"Total: {total_s:.0f}s")
    return "\n".join(lines)


def main(contacts: int | None = None) -> int:
    started = time.monotonic()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    setup = prepare(contacts=contacts)
    world = setup["world"]
    log.info(
        "warehouse %s; world %s contacts (%s)",
        setup["warehouse"],
        world.get("contacts"),
        "reused" if world.get("reused") else "generated",
    )
    with runtime.sandbox_running() as url:
        log.info("sandbox APIs at %s", url)
        runtime.relax_sandbox_open_data(url)
        try:
            timings = run_dags()
        except DemoFailed as exc:
            print(f"\ndemo failed: {exc}", file=sys.stderr)
            return 1
        summary = collect_summary(url)
    total = time.monotonic() - started
    print(render(summary, timings, total))
    from audience.settings import local_dir  # noqa: PLC0415

    (local_dir() / "demo_summary.json").write_text(
        json.dumps({"summary": summary, "timings": timings}, indent=2, default=str)
    )
    synced = {r["audience"] for r in summary["sync_runs"]}
    mismatched = [
        f"{r['audience']} ({r['destination']})"
        for r in summary["sync_runs"]
        if _platform_count(summary["platform"].get(r["destination"], {}), r["audience"])
        != summary["expected"].get(r["destination"], {}).get(r["audience"], 0)
    ]
    missing = [i["audience"] for i in summary["catalogue"] if i["syncable"] and i["audience"] not in synced]
    if missing:
        print(f"\ndemo failed: syncable audiences were not synced: {missing}", file=sys.stderr)
        return 1
    if mismatched:
        print(
            f"\ndemo failed: platform membership differs from the warehouse for {mismatched}", file=sys.stderr
        )
        return 1
    return 0
