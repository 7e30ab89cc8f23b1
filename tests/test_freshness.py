"""Steps skipped when their inputs are those of their last success (``audience.freshness``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audience import freshness, ingest, pipeline, warehouse
from audience.ingest import Record, Reject


@pytest.fixture()
def conn(fresh_warehouse):
    with warehouse.connect() as c:
        warehouse.ensure_schemas(c)
        c.commit()
        yield c


def _load(conn, source: str, entity: str, ids: list[str], rejects: int = 0):
    items: list = [Record(i, "2026-01-01T00:00:00Z", {"id": i, "text": "x"}) for i in ids]
    items += [Reject("broken line", "{not json") for _ in range(rejects)]
    return ingest.load_batch(conn, source, entity, items, watermark_from=None, next_watermark=lambda: None)


def test_a_step_is_unchanged_until_a_batch_loads_rows(conn):
    first = freshness.state(conn, "psychographic")
    assert first.changed and first.previous is None
    freshness.record(conn, first, {"authors": 3})
    again = freshness.state(conn, "psychographic")
    assert not again.changed and again.fingerprint == first.fingerprint
    assert "unchanged since its run" in again.reason()

    # an empty batch (a re-run that found nothing) changes nothing
    _load(conn, "facebook", "comments", [])
    assert not freshness.state(conn, "psychographic").changed
    # a table the step does not read changes nothing for it, but does for the segments
    freshness.record(conn, freshness.state(conn, "segments"), {"success": True})
    _load(conn, "hubspot", "contacts", ["c1"])
    assert not freshness.state(conn, "psychographic").changed
    assert freshness.state(conn, "segments").changed

    _load(conn, "facebook", "comments", ["k1", "k2"])
    now = freshness.state(conn, "psychographic")
    assert now.changed
    assert freshness.what_changed(first.inputs, now.inputs) == ["raw.facebook__comments"]
    assert "raw.facebook__comments" in now.reason()

    # rejects alone are a change too: raw.rejects feeds the quality report
    freshness.record(conn, now, {})
    _load(conn, "facebook", "comments", [], rejects=1)
    assert freshness.state(conn, "psychographic").changed


def test_the_as_of_date_and_the_ml_runs_are_inputs(conn, monkeypatch):
    monkeypatch.setenv("AUDIENCE_AS_OF_DATE", "2026-05-01")
    for stage in freshness.STAGES:
        freshness.record(conn, freshness.state(conn, stage), {})
    monkeypatch.setenv("AUDIENCE_AS_OF_DATE", "2026-05-02")
    assert not freshness.state(conn, "psychographic").changed  # comments do not age
    assert freshness.state(conn, "propensity").changed
    assert "as_of" in freshness.state(conn, "segments").reason()
    monkeypatch.setenv("AUDIENCE_AS_OF_DATE", "2026-05-01")
    assert not freshness.state(conn, "segments").changed
    # a new model run is a new input of the build
    freshness.record(conn, freshness.state(conn, "propensity"), {})
    assert freshness.state(conn, "segments").reason().endswith("ml.propensity")


def test_code_hash_follows_sources_not_build_output(tmp_path):
    project = tmp_path / "dbt_project"
    (project / "models").mkdir(parents=True)
    (project / "models" / "a.sql").write_text("select 1")
    before = freshness.files_hash([project])
    for noise in ("target/manifest.json", "logs/dbt.log", ".user.yml", "models/__pycache__/x.pyc"):
        (project / noise).parent.mkdir(parents=True, exist_ok=True)
        (project / noise).write_text("noise")
    assert freshness.files_hash([project]) == before
    (project / "models" / "a.sql").write_text("select 2")
    assert freshness.files_hash([project]) != before
    (project / "models" / "a.sql").write_text("select 1")
    (project / "models" / "b.sql").write_text("select 1")
    assert freshness.files_hash([project]) != before


def test_ml_inputs_are_the_tables_the_models_read():
    package = Path(freshness.__file__).parent / "ml"
    for stage, module in (("psychographic", "psychographic.py"), ("propensity", "propensity.py")):
        read = set(re.findall(r"\braw\.(\w+)", (package / module).read_text()))
        assert read == set(freshness.ML_INPUTS[stage]), stage


def test_a_pipeline_step_runs_once_per_change_and_never_records_a_failure(conn):
    calls = []

    def work(c):
        calls.append(1)
        return {"authors": len(calls)}

    assert pipeline._unless_unchanged("psychographic", False, work) == {"authors": 1}
    skipped = pipeline._unless_unchanged("psychographic", False, work)
    assert skipped["skipped"] == "inputs unchanged" and len(calls) == 1
    assert pipeline._unless_unchanged("psychographic", True, work) == {"authors": 2}

    def broken(c):
        raise RuntimeError("model failed")

    _load(conn, "linkedin", "comments", ["l1"])
    with pytest.raises(RuntimeError, match="model failed"):
        pipeline._unless_unchanged("psychographic", False, broken)
    # the failure recorded nothing: the next run tries again
    assert pipeline._unless_unchanged("psychographic", False, work) == {"authors": 3}
    runs = conn.execute("select count(*) from ops.stage_runs where stage = 'psychographic'").fetchone()[0]
    assert runs == 3


def test_segments_skip_only_after_a_passing_gate_on_the_same_inputs(conn):
    built = pipeline.segments_changed()
    assert built is not None and built["stage"] == "segments"
    # the gate has not passed on it yet: the next run builds again
    assert pipeline.segments_changed() is not None
    # what validate_segments records when the gate passed (its summary's success says all checks did)
    freshness.record(conn, built, {"gate_passed": True, "success": False})
    assert pipeline.segments_changed() is None
    assert pipeline.segments_changed(force=True)["fingerprint"] == built["fingerprint"]
    # a gate that failed on the same inputs: no rebuild, a clear failure (or None when asked)
    freshness.record(
        conn, built, {"gate_passed": False, "failed_checks": [{"table": "persons", "check": "row_count"}]}
    )
    with pytest.raises(Exception, match=r"failed on these same inputs .*persons\.row_count.*force=true"):
        pipeline.segments_changed()
    assert pipeline.segments_changed(fail_on_failed_gate=False) is None
    # new contacts arrive while dbt runs: recorded inputs are those checked before the build
    _load(conn, "hubspot", "contacts", ["c9"])
    assert pipeline.segments_changed() is not None
