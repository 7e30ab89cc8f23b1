from __future__ import annotations

import pytest

from audience import ingest, warehouse


def _items():
    yield ingest.Record("1", "2026-01-01T00:00:00Z", {"id": "1", "x": "a"})
    yield ingest.Reject("missing_id: no id", {"x": "b"})
    yield ingest.Record("2", "2026-01-02T00:00:00Z", {"id": "2", "x": "c\td"})
    yield ingest.Reject("not_an_object: broken", "{not json")


def test_load_batch_loads_rows_rejects_and_watermark_together(fresh_warehouse):
    with warehouse.connect() as conn:
        res = ingest.load_batch(
            conn,
            "demo",
            "things",
            _items(),
            watermark_from=None,
            next_watermark=lambda: {"ms": 42, "ids": ["2"]},
        )
        assert (res.rows_loaded, res.rows_rejected) == (2, 2)
        assert res.reject_reasons == {"missing_id": 1, "not_an_object": 1}
        rows = conn.execute("select _record_id, payload->>'x' from raw.demo__things order by 1").fetchall()
        assert rows == [("1", "a"), ("2", "c\td")]
        rejects = conn.execute("select source, reason, payload from raw.rejects order by reason").fetchall()
        assert rejects[0][0] == "demo" and rejects[0][1].startswith("missing_id")
        assert rejects[1][2] == "{not json"
        assert ingest.get_watermark(conn, "demo", "things") == {"ms": 42, "ids": ["2"]}
        batch = conn.execute("select rows_loaded, rows_rejected from ops.ingest_batches").fetchone()
        assert batch == (2, 2)


def test_failure_mid_stream_leaves_warehouse_as_it_was(fresh_warehouse):
    def broken():
        yield ingest.Record("1", "2026-01-01T00:00:00Z", {"id": "1"})
        raise ConnectionError("source went away")

    with warehouse.connect() as conn:
        with pytest.raises(ConnectionError):
            ingest.load_batch(
                conn, "demo", "things", broken(), watermark_from=None, next_watermark=lambda: {"ms": 1}
            )
        assert conn.execute("select count(*) from raw.demo__things").fetchone()[0] == 0
        assert ingest.get_watermark(conn, "demo", "things") is None
        assert conn.execute("select count(*) from ops.ingest_batches").fetchone()[0] == 0


def test_instant_watermark_takes_only_what_the_stored_run_did_not_load():
    from audience.ingest import InstantWatermark

    first = InstantWatermark(None)
    assert first.is_new(5, "a") and first.value() is None and not first.advanced
    for instant, rid in ((5, "a"), (7, "b"), (7, "c")):
        first.saw(instant, rid)
    stored = first.value()
    assert stored == {"ms": 7, "ids": ["b", "c"]}
    again = InstantWatermark(stored)
    # same instant: only ids not loaded yet; earlier instants: never; later: always
    assert [again.is_new(*x) for x in ((7, "b"), (7, "d"), (6, "z"), (8, "b"))] == [False, True, False, True]
    assert not again.advanced and again.value() == stored
    again.saw(7, "d")
    assert again.advanced and again.value() == {"ms": 7, "ids": ["b", "c", "d"]}
    again.saw(9, "e")
    assert again.value() == {"ms": 9, "ids": ["e"]}
    since = InstantWatermark.starting_at(100, "ts")
    assert since.is_new(100, "x") and not since.is_new(98, "x") and since.value() == {"ts": 99, "ids": []}


def test_a_task_starting_does_not_wait_for_loads_still_running(fresh_warehouse):
    """Every ingest task ensures the schemas and its raw table as it starts. That must not wait for
    another task's load: an uncommitted COPY's lock, or the web events bulk load's exclusive lock
    (CREATE INDEX IF NOT EXISTS on an existing index waited for both)."""
    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
    with warehouse.connect() as loading, warehouse.connect() as starting:
        loading.execute(
            "insert into raw.hubspot__contacts (_batch_id, _loaded_at, _record_id, payload) "
            "values ('b1', now(), '1', '{}')"
        )
        loading.execute("lock table raw.web_events__events in access exclusive mode")
        starting.execute("set lock_timeout = '2s'")
        warehouse.ensure_schemas(starting)
        assert ingest.ensure_raw_table(starting, "hubspot", "contacts") == "raw.hubspot__contacts"
        starting.commit()
        loading.rollback()
    with warehouse.connect() as conn:  # a missing index is still created
        conn.execute("drop index raw.hubspot__contacts__record_idx")
        ingest.ensure_raw_table(conn, "hubspot", "contacts")
        conn.commit()
        assert conn.execute("select to_regclass('raw.hubspot__contacts__record_idx')").fetchone()[0]
