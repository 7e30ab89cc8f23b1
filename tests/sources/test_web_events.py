"""The web events (pixel files) connector against the sandbox world's partitions."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from audience import warehouse
from audience.sources import web_events


def _settings(root: Path, **kw) -> web_events.WebEventsSettings:
    return web_events.WebEventsSettings(root, **kw)


def _lines(root: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(root.glob("dt=*/*.jsonl")):
        out.extend(path.read_text().splitlines())
    return out


def _ids(lines: list[str]) -> set[str]:
    return {json.loads(line)["event_id"] for line in lines}


def _loaded(conn) -> list[str]:
    return [r[0] for r in conn.execute("select _record_id from raw.web_events__events")]


def corrupt_partition(src: Path, dst: Path, *, rate: float, seed: int) -> tuple[set[str], dict[str, int]]:
    """Copy partition file ``src`` to ``dst`` with a share ``rate`` of lines broken or duplicated.

    Returns the event ids that should load and the reject codes expected. A test helper: the
    generator itself never writes bad lines.
    """
    rnd = random.Random(seed)
    good: set[str] = set()
    codes: dict[str, int] = {}
    seen: list[str] = []
    out: list[str] = []
    for line in src.read_text().splitlines():
        obj = json.loads(line)
        if rnd.random() >= rate:
            out.append(line)
            good.add(obj["event_id"])
            seen.append(line)
            continue
        kind = rnd.choice(["json", "missing_id", "unknown", "type", "date", "future", "dup"])
        if kind == "dup" and seen:
            out.append(rnd.choice(seen))  # an event seen before: dropped, not rejected
            out.append(line)
            good.add(obj["event_id"])
            continue
        if kind in ("json", "dup"):
            out.append(line[: len(line) // 2])
            kind = "bad_json"
        elif kind == "missing_id":
            obj.pop("event_id")
            out.append(json.dumps(obj))
        elif kind == "unknown":
            obj["event_name"] = "Teleport"
            out.append(json.dumps(obj))
            kind = "unknown_event"
        elif kind == "type":
            obj["value"] = "12.50"
            out.append(json.dumps(obj))
            kind = "bad_type"
        elif kind == "date":
            obj["event_time"] = "2026-02-30T10:00:00.000Z"
            out.append(json.dumps(obj))
            kind = "bad_timestamp"
        elif kind == "future":
            obj["event_time"] = "2099-01-01T00:00:00.000Z"
            out.append(json.dumps(obj))
            kind = "bad_timestamp"
        codes[kind] = codes.get(kind, 0) + 1
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(out) + "\n")
    return good, codes


@pytest.fixture()
def events_root(sandbox_world, tmp_path) -> Path:
    root = tmp_path / "web_events"
    shutil.copytree(sandbox_world / "web_events", root)
    return root


def test_full_load_then_rerun_loads_nothing(fresh_warehouse, events_root):
    lines = _lines(events_root)
    with warehouse.connect() as conn:
        first = web_events.load_events(conn, settings=_settings(events_root))
        assert first.rows_loaded == len(lines) > 1000
        assert first.rows_rejected == first.rows_skipped == 0
        assert sorted(_loaded(conn)) == sorted(_ids(lines))
        payload, updated = conn.execute(
            "select payload, _updated_at from raw.web_events__events order by _record_id limit 1"
        ).fetchone()
        assert {"event_id", "event_name", "event_time", "anonymous_id"} <= set(payload)
        assert updated is not None
        second = web_events.load_events(conn, settings=_settings(events_root))
        assert second.rows_loaded == 0
        assert len(_loaded(conn)) == len(lines)


def test_incremental_new_partition_and_grown_file(fresh_warehouse, events_root, tmp_path):
    parts = sorted(events_root.glob("dt=*"))
    held_back = tmp_path / "held" / parts[-1].name
    shutil.move(parts[-1], held_back)
    with warehouse.connect() as conn:
        first = web_events.load_events(conn, settings=_settings(events_root))
        shutil.move(held_back, events_root / parts[-1].name)
        new_lines = _lines(events_root / ".." / "web_events")
        second = web_events.load_events(conn, settings=_settings(events_root))
        assert first.rows_loaded + second.rows_loaded == len(new_lines)
        assert second.rows_loaded == len((parts[-1] / "events.jsonl").read_text().splitlines())
        # a file that grows: its old lines are not read again, duplicates in the new part are dropped
        target = parts[0] / "events.jsonl"
        old_first = target.read_text().splitlines()[0]
        fresh = json.loads(old_first) | {"event_id": "ev-new-1"}
        with open(target, "a") as fh:
            fh.write(old_first + "\n" + json.dumps(fresh) + "\n")
        third = web_events.load_events(conn, settings=_settings(events_root))
        assert (third.rows_loaded, third.rows_skipped, third.rows_rejected) == (1, 1, 0)
        ids = _loaded(conn)
        assert len(ids) == len(set(ids)) == len(new_lines) + 1


def test_since_limits_partitions(fresh_warehouse, events_root):
    parts = sorted(events_root.glob("dt=*"))
    since = parts[-3].name.removeprefix("dt=")
    expected = sum(len((p / "events.jsonl").read_text().splitlines()) for p in parts[-3:])
    with warehouse.connect() as conn:
        res = web_events.load_events(conn, since=since, settings=_settings(events_root))
    assert res.rows_loaded == expected


def test_duplicate_event_ids_are_dropped(fresh_warehouse, events_root):
    lines = _lines(events_root)
    with warehouse.connect() as conn:
        web_events.load_events(conn, settings=_settings(events_root))
        # a late partition re-delivering old events, with a duplicate inside itself too
        extra = events_root / "dt=2026-11-01" / "late.jsonl"
        extra.parent.mkdir()
        new = json.loads(lines[0]) | {"event_id": "ev-late-1"}
        extra.write_text("\n".join([lines[5], lines[6], json.dumps(new), json.dumps(new)]) + "\n")
        res = web_events.load_events(conn, settings=_settings(events_root))
        assert (res.rows_loaded, res.rows_skipped) == (1, 3)
        # a full refresh reads everything again and still loads nothing twice
        again = web_events.load_events(conn, full_refresh=True, settings=_settings(events_root))
        assert again.rows_loaded == 0
        ids = _loaded(conn)
    assert len(ids) == len(set(ids)) == len(lines) + 1


def test_malformed_lines_land_in_rejects_with_reason_and_line(fresh_warehouse, tmp_path):
    root = tmp_path / "events"
    good = {
        "event_id": "ev-1",
        "event_name": "Purchase",
        "url": "https://shop.example.com/checkout",
        "value": 12.5,
        "currency": "EUR",
        "contact_id": "100001",
        "anonymous_id": "anon-1",
        "event_time": "2026-10-01T10:00:00.000Z",
    }
    bad = [
        '{"event_id": "ev-2", "event_name": ',  # broken JSON
        json.dumps({k: v for k, v in good.items() if k != "event_id"}),
        json.dumps(good | {"event_id": "ev-3", "event_name": "Teleport"}),
        json.dumps(good | {"event_id": "ev-4", "value": "12"}),
        json.dumps(good | {"event_id": "ev-5", "event_time": "2026-02-30T10:00:00Z"}),
        json.dumps(good | {"event_id": "ev-6", "event_time": "2999-01-01T00:00:00Z"}),
        json.dumps(good | {"event_id": "ev-7", "url": "a\u0000b"}),
        "[1, 2]",
    ]
    ok_unusual = json.dumps(
        good | {"event_id": "ev-8", "url": "https://shop.example.com/caf\u00e9\ttab"}, indent=None
    )
    part = root / "dt=2026-10-01"
    part.mkdir(parents=True)
    (part / "events.jsonl").write_bytes(
        ("\n".join([json.dumps(good), *bad, ok_unusual]) + "\n").encode() + b'{"event_id": "\xff"}\n'
    )
    with warehouse.connect() as conn:
        res = web_events.load_events(conn, settings=_settings(root))
        rows = conn.execute(
            "select reason, payload from raw.rejects where source = 'web_events' order by reason"
        ).fetchall()
        loaded = sorted(_loaded(conn))
        url = conn.execute(
            "select payload->>'url' from raw.web_events__events where _record_id = 'ev-8'"
        ).fetchone()[0]
    assert loaded == ["ev-1", "ev-8"]
    assert url.endswith("caf\u00e9\ttab")
    assert res.rows_rejected == len(rows) == 9
    assert res.reject_reasons == {
        "bad_json": 2,
        "missing_id": 1,
        "unknown_event": 1,
        "bad_type": 1,
        "bad_timestamp": 2,
        "not_an_object": 1,
        "bad_encoding": 1,
    }
    reasons = [r[0] for r in rows]
    assert any(r.startswith("bad_json: line 2 of dt=2026-10-01/events.jsonl") for r in reasons)
    assert any("line 11 of" in r and r.startswith("bad_encoding") for r in reasons)
    assert all("100001" not in r for r in reasons)  # no contact data in reasons


def test_twenty_percent_bad_or_duplicate_lines_still_load_exactly_the_right_rows(
    fresh_warehouse, events_root, tmp_path
):
    root = tmp_path / "faulty"
    expected: set[str] = set()
    codes: dict[str, int] = {}
    for n, part in enumerate(sorted(events_root.glob("dt=*"))):
        good, got = corrupt_partition(
            part / "events.jsonl", root / part.name / "events.jsonl", rate=0.2, seed=n
        )
        expected |= good
        for k, v in got.items():
            codes[k] = codes.get(k, 0) + v
    with warehouse.connect() as conn:
        # small chunks so that several chunks meet duplicates and are looked up
        res = web_events.load_events(conn, settings=_settings(root, chunk_bytes=64 << 10))
        ids = _loaded(conn)
        again = web_events.load_events(conn, settings=_settings(root))
    assert len(ids) == len(set(ids)) == res.rows_loaded
    assert set(ids) == expected
    assert res.reject_reasons == codes
    assert res.rows_skipped > 0
    assert again.rows_loaded == again.rows_rejected == 0


def test_a_failing_run_leaves_the_warehouse_as_it_was(fresh_warehouse, events_root, monkeypatch):
    with warehouse.connect() as conn:
        web_events.load_events(conn, settings=_settings(events_root))
        before = conn.execute("select count(*) from raw.web_events__events").fetchone()[0]
        extra = events_root / "dt=2026-11-02" / "events.jsonl"
        extra.parent.mkdir()
        extra.write_text(_lines(events_root)[0].replace('"ev-', '"ev-x-') + "\n")

        def boom(path, offset):
            raise OSError("disk gone")

        monkeypatch.setattr(web_events, "_tail_sha1", boom)
        with pytest.raises(OSError):
            web_events.load_events(conn, settings=_settings(events_root))
        monkeypatch.undo()
        after = conn.execute("select count(*) from raw.web_events__events").fetchone()[0]
        batches = conn.execute("select count(*) from ops.ingest_batches").fetchone()[0]
        res = web_events.load_events(conn, settings=_settings(events_root))
    assert after == before and batches == 1
    assert res.rows_loaded == 1


def test_missing_folder_is_a_clear_error(fresh_warehouse, tmp_path):
    with warehouse.connect() as conn, pytest.raises(FileNotFoundError, match="web_events"):
        web_events.load_events(conn, settings=_settings(tmp_path / "nope"))


def test_connection_extra_path_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv(
        "AIRFLOW_CONN_WEB_EVENTS", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}})
    )
    assert web_events.WebEventsSettings.resolve().root == tmp_path


def test_compact_lines_without_identity_are_rejected_like_the_others(tmp_path):
    # the compact pixel form takes the regular-expression path: it must apply the same checks
    line = (
        '{"event_id":"ev-9","event_name":"PageView","url":null,"value":null,"currency":null,'
        '"contact_id":null,"anonymous_id":"","event_time":"2026-08-03T21:10:57.395Z"}'
    )
    part = tmp_path / "dt=2026-08-03"
    part.mkdir()
    (part / "events.jsonl").write_text(
        line + "\n" + line.replace('"anonymous_id":""', '"anonymous_id":"a-1"') + "\n"
    )
    checker = web_events.LineChecker(
        web_events.datetime(2026, 11, 1, tzinfo=web_events.UTC), web_events.timedelta(hours=24)
    )
    assert str(checker.check(line, "line 1")).startswith("missing_identity: line 1")
    plans, _ = web_events.plan_files(tmp_path, {})
    blocks = list(web_events.iter_blocks(plans, checker, web_events._Run(), "b\tt\t"))
    ids = [i for b in blocks for i in b[0]]
    texts = [t for b in blocks for t in b[1]]
    rejects = [r for b in blocks for r in b[2]]
    assert ids == ["ev-9"]
    assert [r.reason.split(":")[0] for r in rejects] == ["missing_identity"]
    # the payload sent is the same object as the line (keys in jsonb's order)
    payload = texts[0].rstrip("\n").split("\t", 4)[4]
    assert json.loads(payload) == json.loads(line.replace('"anonymous_id":""', '"anonymous_id":"a-1"'))


def test_first_load_into_an_empty_table_keeps_the_first_of_repeated_ids(fresh_warehouse, tmp_path):
    # a first load builds the unique index after copying: the first line of an id still wins
    root = tmp_path / "events"
    event = {
        "event_id": "ev-1",
        "event_name": "PageView",
        "url": "https://shop.example.com/first",
        "value": None,
        "currency": None,
        "contact_id": None,
        "anonymous_id": "anon-1",
        "event_time": "2026-10-01T10:00:00.000Z",
    }
    for day, url in (("2026-10-01", "first"), ("2026-10-02", "second")):
        (root / f"dt={day}").mkdir(parents=True)
        lines = [event | {"url": f"https://shop.example.com/{url}"}, event | {"event_id": f"ev-{day}"}]
        (root / f"dt={day}" / "events.jsonl").write_text(
            "\n".join(json.dumps(e, separators=(",", ":")) for e in lines) + "\n"
        )
    with warehouse.connect() as conn:
        res = web_events.load_events(conn, settings=_settings(root))
        url = conn.execute(
            "select payload->>'url' from raw.web_events__events where _record_id = 'ev-1'"
        ).fetchone()[0]
        unique = conn.execute(
            "select indisunique from pg_index where indexrelid = 'raw.web_events__events__event_id_key'::regclass"
        ).fetchone()[0]
    assert (res.rows_loaded, res.rows_skipped) == (3, 1)
    assert url == "https://shop.example.com/first"
    assert unique is True


def test_a_first_load_writes_its_rows_without_wal(fresh_warehouse, tmp_path):
    """Into an empty table the rows and the unique index are written in a new file of the load's own
    transaction: on the embedded server (wal_level minimal) they need no WAL."""
    root = tmp_path / "events"
    (root / "dt=2026-10-01").mkdir(parents=True)
    event = {
        "event_id": "",
        "event_name": "AddToCart",
        "url": "https://shop.example.com/home_deco/rattan-armchair",
        "value": 520.2,
        "currency": "EUR",
        "contact_id": "100087",
        "anonymous_id": "anon-076a99b476",
        "event_time": "2026-10-01T10:00:00.000Z",
    }
    lines = [json.dumps(event | {"event_id": f"ev-{i}"}, separators=(",", ":")) for i in range(40_000)]
    (root / "dt=2026-10-01" / "events.jsonl").write_text("\n".join(lines) + "\n")
    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
        web_events.ensure_events_table(conn)
        conn.commit()
        before = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]
        conn.commit()
    with warehouse.connect() as conn:
        res = web_events.load_events(conn, settings=_settings(root))
    with warehouse.connect() as conn:
        wal = conn.execute(
            "select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", (before,)
        ).fetchone()[0]
        size = conn.execute("select pg_total_relation_size('raw.web_events__events')").fetchone()[0]
        assert conn.execute("show wal_level").fetchone()[0] == "minimal"
    assert res.rows_loaded == 40_000
    assert size > 4_000_000, "too small a load to tell: under 2 MB a new file is WAL-logged whole at commit"
    assert wal < size / 10, f"{wal} bytes of WAL for {size} bytes of events and index"
