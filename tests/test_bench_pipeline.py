"""``audience bench`` at a tiny size: every stage measured twice, the floor, the verdicts, the JSON."""

from __future__ import annotations

import json

import psycopg
import pytest

from audience import bench_pipeline

pytestmark = pytest.mark.e2e


def test_bench_runs_every_stage_and_writes_the_report(warehouse_server, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench_pipeline.main(
        ["--contacts", "300", "--events-per-contact", "2", "--dir", str(tmp_path), "--json", str(out)]
    )
    # at 300 contacts the fixed costs dominate: targets may be missed (exit 1), never a crash (2)
    assert code in (0, 1)
    report = json.loads(out.read_text())
    assert set(report) == {"machine", "memory_measure", "sizes", "targets"}
    (size,) = report["sizes"]
    assert size["contacts"] == 300 and size["events_per_contact"] == 2
    # the default: two task slots, so the feeds, the two models and the sync targets ran side by side
    assert size["workers"] == bench_pipeline.DEFAULT_WORKERS == 2
    assert list(size["stages"]) == list(bench_pipeline.STAGES)
    assert list(size["second_run"]["stages"]) == list(bench_pipeline.PIPELINE_STAGES)
    for stages in (size["stages"], size["second_run"]["stages"]):
        for name, stage in stages.items():
            assert stage["wall_s"] > 0, name
            assert stage["peak_rss_mb"] > 0, name
            assert stage["rows_per_s"] >= 0, name
    first = size["stages"]
    # the first run loads, builds, checks and sends something
    for name in ("generate", "ingest", "ml", "dbt", "validation", "sync"):
        assert first[name]["rows"] > 0 and first[name]["rows_per_s"] > 0, name
    assert first["validation"]["verdict"] in {"PASS", "FAIL"} and first["validation"]["checks"] > 0
    # the failing checks are kept, with their severity: a FAIL names at least one critical one
    failed = first["validation"]["failed_checks"]
    assert all(set(c) == {"table", "check", "severity", "message"} for c in failed)
    if first["validation"]["verdict"] == "FAIL":
        assert any(c["severity"] == "critical" for c in failed)
    assert size["raw_rows"] == first["ingest"]["rows"]
    # every feed of the catalogue ran once, whatever slot took it
    from audience.sources.catalog import FEEDS

    assert sorted(first["ingest"]["parts"]) == sorted(f.task_id for f in FEEDS)
    # the PostgreSQL backends serving the bench database are measured too (a lookup of the
    # postmaster after the session had closed once left them at 0)
    assert first["ingest"]["peak_backend_rss_mb"] > 0 and first["dbt"]["peak_backend_rss_mb"] > 0
    # the two models ran in processes of their own, as the DAG's two tasks: each has its own peak
    ml_peaks = first["ml"]["part_peak_rss_mb"]
    assert set(ml_peaks) == {"psychographic", "propensity"} and min(ml_peaks.values()) > 0
    assert first["ml"]["peak_rss_mb"] >= max(ml_peaks.values())
    # the second run finds nothing new: no raw row loaded, nothing sent
    second = size["second_run"]["stages"]
    assert second["ingest"]["rows"] == 0
    assert second["sync"]["rows"] == 0
    # ... so the models, dbt and the gate are skipped (audience.freshness), as in the DAG
    assert second["ml"]["skipped"] == ["psychographic", "propensity"] and second["ml"]["rows"] == 0
    assert second["dbt"]["skipped"] == "inputs unchanged" and second["dbt"]["rows"] == 0
    assert second["validation"]["verdict"] == "SKIPPED"
    assert set(second["sync"]["outcomes"].values()) <= {"unchanged"}
    # the floor copied back every raw row the ingest loaded
    assert size["floor"]["rows"] == size["raw_rows"] and size["floor"]["copy_s"] > 0
    assert size["pipeline_s"] == pytest.approx(
        sum(first[s]["wall_s"] for s in bench_pipeline.PIPELINE_STAGES)
    )
    assert size["floor_ratio"] == pytest.approx(size["pipeline_s"] / size["floor"]["copy_s"], rel=0.01)
    assert size["peak_rss_mb"] == max(
        s["peak_rss_mb"] for s in [*list(first.values()), *list(second.values())]
    )
    verdicts = {v["verdict"] for v in report["targets"]}
    assert verdicts <= {"MET", "MISSED", "NOT RUN (one size)"}
    assert code == (1 if "MISSED" in verdicts else 0)
    printed = capsys.readouterr().out
    assert "floor COPY" in printed and "Targets:" in printed
    # the size's database is dropped afterwards
    with psycopg.connect(**warehouse_server.libpq(), autocommit=True) as conn:
        assert (
            conn.execute("select count(*) from pg_database where datname = 'audience_bench_300'").fetchone()[
                0
            ]
            == 0
        )


def _size(contacts: int, pipeline_s: float, floor_s: float, peak: float, second: float) -> dict:
    return {
        "contacts": contacts,
        "pipeline_s": pipeline_s,
        "floor_ratio": pipeline_s / floor_s,
        "peak_rss_mb": peak,
        "peak_backend_rss_mb": 100.0,
        "second_run": {"ratio": second},
    }


def test_targets_are_judged_on_the_figures():
    verdicts = bench_pipeline.judge(
        [
            _size(100_000, 100.0, 20.0, 900.0, 0.2),
            _size(1_000_000, 1_300.0, 100.0, 2_500.0, 0.3),
        ]
    )
    by_target = {(v["target"].split(" <=")[0], v.get("at")): v for v in verdicts}
    assert by_target[("pipeline time / plain COPY of its raw rows", 1_000_000)]["verdict"] == "MISSED"
    growth = by_target[("time at 1000000 / time at 100000", 1_000_000)]
    assert growth["value"] == 13.0 and growth["verdict"] == "MISSED" and "<= 12" in growth["target"]
    assert by_target[("peak memory of the largest process", 100_000)]["verdict"] == "MET"
    assert by_target[("peak memory of the largest process", 1_000_000)]["verdict"] == "MISSED"
    assert by_target[("unchanged second run / first run", 100_000)]["verdict"] == "MET"
    assert by_target[("unchanged second run / first run", 1_000_000)]["verdict"] == "MISSED"
    assert all("note" not in v for v in verdicts)


def test_task_slots_keep_the_order_and_fail_the_stage():
    import math
    import operator

    # two spawned processes, results in the items' order, as one slot gives them
    assert bench_pipeline._task_slots(operator.neg, [1, 2, 3, 4, 5], 2) == [-1, -2, -3, -4, -5]
    assert bench_pipeline._task_slots(operator.neg, [1, 2, 3], 1) == [-1, -2, -3]
    # a task that fails fails the stage, with its own error
    with pytest.raises(ValueError, match="math domain error"):
        bench_pipeline._task_slots(math.sqrt, [4.0, -1.0, 9.0], 2)
