"""A small run of ``bench-sync`` (20,000 members): request counts and exact equality, not speed."""

from __future__ import annotations

from audience import bench_sync


def test_bench_sync_counts_requests_and_converges(sandbox):
    report = bench_sync.run(20_000, sandbox.url, parallel_requests=2)
    assert report.ours.records == 20_000 and report.plain.records == 20_000
    assert report.ours.upload_requests == report.expected_uploads == 2  # ceil(20,000 / 10,000)
    assert report.ours.requests == 2 + 2  # list + create the audience, then the uploads
    assert report.parallel.records == 20_000 and report.parallel.upload_requests == 2
    assert report.plain.upload_requests == 2
    assert report.change.records == 200 and report.change.upload_requests == 2  # 100 removed, 100 added
    assert report.change.records <= 20_000 * bench_sync.CHANGE_TARGET
    assert report.equal
    table = report.table()
    names = [target for target, _, _ in report.targets()]
    assert "plain SDK add_users" in table and "ours: first sync, 2x" in table
    assert len(names) == 5 and any("2 requests in flight" in name for name in names)
    assert all(met for target, _, met in report.targets() if "plain" not in target)


def test_bench_sync_refuses_a_bad_size():
    import pytest

    with pytest.raises(ValueError, match="at least 1"):
        bench_sync.run(0)
