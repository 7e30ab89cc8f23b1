"""A smoke run of ``audience bench-ingest`` at a tiny size: every feed, its repetitions, the verdicts."""

from __future__ import annotations

from audience import bench

FEEDS = [
    "web_events.events",
    "files.contacts",
    "files.orders",
    "hubspot.contacts",
    "salesforce.contacts",
    "facebook.comments",
    "linkedin.comments",
]


def test_bench_ingest_interleaves_each_loader_with_plain_copy(warehouse_server):
    report = bench.bench_ingest(events=3_000, contacts=1_000, repeat=2)
    assert set(report) == {"events", "contacts", "repeat", "target", "results"}
    assert [r["loader"] for r in report["results"]] == FEEDS
    by_name = {r["loader"]: r for r in report["results"]}
    assert by_name["files.contacts"]["rows"] == by_name["files.orders"]["rows"] == 3_000
    assert by_name["hubspot.contacts"]["rows"] == 1_000
    for r in report["results"]:
        assert len(r["repetitions"]) == 2 and r["rows"] > 0
        for rep in [r["warmup"], *r["repetitions"]]:
            assert rep["loader_rows_per_s"] > 0 and rep["copy_rows_per_s"] > 0
        lo, pc = r["loader_rows_per_s"], r["plain_copy_rows_per_s"]
        assert lo["min"] <= lo["median"] <= lo["max"] and pc["min"] <= pc["median"] <= pc["max"]
        assert abs(r["ratio_of_medians"] - lo["median"] / pc["median"]) < 0.01
        assert r["ratio_min"] <= r["ratio_max"]
        assert r["meets_target"] == ((r["ratio_of_medians"] >= bench.TARGET) if r["judged"] else None)
    assert [r["judged"] for r in report["results"]] == [True] * 3 + [False] * 4
    table = bench.format_table(report)
    assert "web_events.events" in table and "ratio of medians" in table and "warm-up" in table


def test_scaled_drop_repeats_the_worlds_rows_under_new_ids(tmp_path):
    import csv

    import pyarrow.parquet as pq

    from sandbox.world import generate

    generate(tmp_path / "world", contacts=300, events_per_contact=1, seed=3)
    sizes = bench.scaled_drop(tmp_path / "world" / "crm_drop", tmp_path / "drop", 2_500)
    assert sizes == {"contacts": 2_500, "orders": 2_500}
    with open(tmp_path / "drop" / "contacts_bench.csv", encoding="utf-8", newline="") as fh:
        ids = [row[0] for row in csv.reader(fh, delimiter=";")][1:]
    assert len(ids) == len(set(ids)) == 2_500
    orders = pq.read_table(tmp_path / "drop" / "orders_bench.parquet").column("order_id").to_pylist()
    assert len(orders) == len(set(orders)) == 2_500
