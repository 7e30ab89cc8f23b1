"""A smoke run of ``audience bench-ingest`` at a tiny size: the report's shape, positive rates."""

from __future__ import annotations

from audience import bench


def test_bench_ingest_reports_each_loader_beside_plain_copy(warehouse_server, capsys):
    report = bench.bench_ingest(events=3_000, contacts=1_000)
    assert set(report) == {"events", "contacts", "target", "results"}
    assert [r["loader"] for r in report["results"]] == ["web_events.events", "hubspot.contacts"]
    for row in report["results"]:
        assert set(row) == {
            "loader",
            "rows",
            "seconds",
            "rows_per_s",
            "plain_copy_rows_per_s",
            "ratio",
            "note",
        }
        assert (
            row["rows"] > 0
            and row["rows_per_s"] > 0
            and row["plain_copy_rows_per_s"] > 0
            and row["ratio"] > 0
        )
    assert report["results"][1]["rows"] == 1_000
    table = bench.format_table(report)
    assert "web_events.events" in table and "plain COPY" in table
