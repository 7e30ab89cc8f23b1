"""DagBag checks: the DAGs import cleanly, are documented and retried, and touch nothing at parse time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from audience.settings import project_root

EXPECTED = {
    "ingest_crm",
    "ingest_web_events",
    "ingest_social",
    "ingest_open_data",
    "build_segments",
    "sync_audiences",
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(project_root() / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert EXPECTED <= set(dagbag.dag_ids)


def test_every_dag_is_tagged_documented_and_retried(dagbag):
    for dag_id in EXPECTED:
        dag = dagbag.dags[dag_id]
        assert "audience" in dag.tags, dag_id
        assert dag.doc_md and len(dag.doc_md) > 50, dag_id
        assert dag.catchup is False, dag_id
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} has retries={task.retries}"


def test_dags_chain_through_assets(dagbag):
    ingest = dagbag.dags["ingest_crm"]
    build = dagbag.dags["build_segments"]
    sync = dagbag.dags["sync_audiences"]
    produced = {a.uri for t in ingest.tasks for a in t.outlets}
    assert "warehouse://raw/hubspot__contacts" in produced
    assert len(produced) == len(ingest.tasks)  # one raw table per task
    build_outlets = {a.uri for t in build.tasks for a in t.outlets}
    assert "audience://segments/validated" in build_outlets
    # the validated asset is emitted by the gate task only, so a failing gate emits nothing
    emitters = [
        t.task_id for t in build.tasks if any(a.uri == "audience://segments/validated" for a in t.outlets)
    ]
    assert emitters == ["validate_segments"]
    assert [a.uri for a in sync.timetable.asset_condition.objects] == ["audience://segments/validated"]
    # new contacts from any CRM, or new web events, rebuild the segments
    triggers = sorted(a.uri for a in build.timetable.asset_condition.objects)
    assert triggers == [
        "warehouse://raw/facebook__comments",
        "warehouse://raw/files__contacts",
        "warehouse://raw/hubspot__contacts",
        "warehouse://raw/insee__communes",
        "warehouse://raw/salesforce__contacts",
        "warehouse://raw/web_events__events",
    ]
    # every trigger is an asset some ingest task publishes
    published = {
        a.uri
        for d in dagbag.dags.values()
        if d.dag_id.startswith("ingest_")
        for t in d.tasks
        for a in t.outlets
    }
    assert set(triggers) <= published


def test_dbt_models_rendered_as_tasks(dagbag):
    build = dagbag.dags["build_segments"]
    ids = {t.task_id for t in build.tasks}
    for model in ("stg_hubspot__contacts", "persons", "audience_members"):
        assert any(model in i for i in ids), f"no task for dbt model {model}: {sorted(ids)}"
    # the Python models run before dbt, which reads their ml tables as sources
    for model_task in ("psychographic_profiles", "purchase_propensity"):
        downstream = build.get_task(model_task).get_flat_relative_ids(upstream=False)
        assert any("persons" in d for d in downstream) and "validate_segments" in downstream
    # the report runs whatever the gate said, but the run ends failed when the gate failed
    assert build.get_task("run_report").trigger_rule == "all_done"
    (leaf,) = [t for t in build.tasks if not t.downstream_list]
    assert leaf.task_id == "segments_validated" and leaf.trigger_rule == "all_success"
    assert {"validate_segments", "run_report"} <= set(leaf.upstream_task_ids)
    gate = build.get_task("validate_segments")
    assert all(
        any(model in u for u in gate.get_flat_relative_ids(upstream=True)) for model in ("audience_members",)
    )


PARSE_PROBE = textwrap.dedent(
    """
    import json, socket, subprocess, sys
    attempts = []
    real_connect = socket.socket.connect
    def guard(self, address, *a, **k):
        attempts.append(repr(address))
        raise OSError("network access at DAG parse time")
    socket.socket.connect = guard
    socket.socket.connect_ex = lambda self, address: attempts.append(repr(address)) or 111
    socket.create_connection = lambda address, *a, **k: (attempts.append(repr(address)), guard(None, address))[1]
    real_popen = subprocess.Popen.__init__
    def no_popen(self, args, *a, **k):
        if isinstance(args, (list, tuple)) and args[:1] == ["file"]:
            return real_popen(self, args, *a, **k)  # platform.architecture(), called by croniter on import
        attempts.append("subprocess:" + repr(args)[:80])
        raise OSError("subprocess at DAG parse time")
    subprocess.Popen.__init__ = no_popen
    import psycopg
    def no_pg(*a, **k):
        attempts.append("psycopg.connect")
        raise OSError("database at DAG parse time")
    psycopg.connect = no_pg
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=sys.argv[1])
    print(json.dumps({"errors": {k: str(v)[:300] for k, v in bag.import_errors.items()},
                      "dags": sorted(bag.dag_ids), "attempts": attempts}))
    """
)


def test_nothing_touched_at_parse_time(tmp_path):
    """Parse the DAGs with sockets, subprocesses and database connections forbidden."""
    env = dict(os.environ)
    env["AIRFLOW_CONN_WAREHOUSE"] = "postgresql://nobody:secret@127.0.0.1:1/none"
    env["AUDIENCE_SANDBOX_URL"] = "http://127.0.0.1:1"
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(project_root() / "dags")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == {}
    assert EXPECTED <= set(out["dags"])
    assert out["attempts"] == []


def test_ingest_tasks_are_wired_as_the_catalogue_chains_them(dagbag):
    """The bench runs the ingest tasks in ``task_chains()``; the DAGs must wire exactly those chains."""
    from audience.sources.catalog import task_chains

    chains = task_chains()
    # a source's feeds share its rate limit, so they form one chain (the INSEE feeds, 30 requests a
    # minute; HubSpot's two, ~5 searches a second); a file drop or the pixel export is alone
    by_first = {chain[0].task_id: [f.task_id for f in chain] for chain in chains}
    assert by_first["insee__regions"][:2] == ["insee__regions", "insee__departements"]
    assert len(by_first["insee__regions"]) == 6
    assert by_first["hubspot__contacts"] == ["hubspot__contacts", "hubspot__deals"]
    assert by_first["linkedin__comments"] == ["linkedin__comments", "linkedin__follower_statistics"]
    assert by_first["files__contacts"] == ["files__contacts"] and by_first["files__orders"] == [
        "files__orders"
    ]
    seen = []
    for chain in chains:
        dag = dagbag.dags[chain[0].family]
        for before, feed in zip((None, *chain[:-1]), chain, strict=True):
            upstream = dag.get_task(feed.task_id).upstream_task_ids
            assert upstream == ({before.task_id} if before else set()), feed.task_id
            seen.append(feed.task_id)
    # every ingest task of every DAG is in exactly one chain
    ingest_tasks = [t.task_id for d in EXPECTED if d.startswith("ingest_") for t in dagbag.dags[d].tasks]
    assert sorted(seen) == sorted(ingest_tasks)


def test_a_paced_chain_then_the_heaviest_ingest_chains_start_first(dagbag):
    """With fewer task slots than chains, a chain paced by a rate limit starts first, then the long
    chains: the bench takes the chains in ``task_chains()`` order, the scheduler by priority weight
    (a chain's first task carries the weights of the whole chain, Airflow's default ``downstream``
    rule)."""
    from audience.sources.catalog import FEEDS, PACED_PRIORITY, task_chains

    # a paced feed outranks any chain of unpaced ones, whatever their weights
    assert PACED_PRIORITY > sum(feed.weight for feed in FEEDS)
    chains = task_chains()
    totals = [sum(feed.priority for feed in chain) for chain in chains]
    assert totals == sorted(totals, reverse=True)
    # LinkedIn's comments (600 calls a minute: mostly waiting) first, beside the pixel export; then
    # HubSpot, the two longest at 1M contacts
    assert [chains[i][0].task_id for i in range(3)] == [
        "linkedin__comments",
        "web_events__events",
        "hubspot__contacts",
    ]
    assert [feed.task_id for feed in FEEDS if feed.paced] == ["linkedin__comments"]
    for chain, total in zip(chains, totals, strict=True):
        dag = dagbag.dags[chain[0].family]
        for feed in chain:
            assert dag.get_task(feed.task_id).priority_weight == feed.priority, feed.task_id
        # the scheduler's weight of the chain's first task, as the downstream rule sums it
        first = dag.get_task(chain[0].task_id)
        assert str(first.weight_rule).lower().endswith("downstream")
        downstream = first.get_flat_relative_ids(upstream=False)
        assert first.priority_weight + sum(dag.task_dict[t].priority_weight for t in downstream) == total
