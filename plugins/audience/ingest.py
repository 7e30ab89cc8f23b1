"""What every connector shares: raw tables, watermarks, batches and rejects.

A connector yields records; :func:`load_batch` streams them into
``raw.<source>__<entity>`` with COPY, sends malformed ones to ``raw.rejects``
with their reason, and advances the watermark in ``ops.ingest_state`` in the
same transaction — so the watermark moves only when the rows are committed.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from audience.warehouse import copy_line, copy_rows, ensure_schemas

log = logging.getLogger(__name__)

RAW_COLUMNS = ("_batch_id", "_loaded_at", "_record_id", "_updated_at", "payload")
MAX_ID_CHARS = 512  # a longer "id" is not one (and would not fit the raw table's btree index)
# JSON's escape of a NUL character (not preceded by an escaping backslash): jsonb refuses it
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


@dataclass
class Record:
    """One record from a source: its id, its last-modified time, and the original payload."""

    record_id: str
    updated_at: str | None
    payload: Any


@dataclass
class Reject:
    reason: str
    payload: Any


@dataclass
class BatchResult:
    source: str
    entity: str
    batch_id: str
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    watermark_from: Any = None
    watermark_to: Any = None
    duration_s: float = 0.0
    reject_reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What goes to logs and XComs: counts and ids, no payload."""
        return asdict(self)


def raw_table(source: str, entity: str) -> str:
    return f"raw.{source}__{entity}"


def ensure_raw_table(conn: psycopg.Connection, source: str, entity: str, *, record_index: bool = True) -> str:
    """The raw table of a feed; ``record_index`` adds the ``(_record_id, _updated_at)`` index that
    API feeds are looked up by (the file drop's tables are only ever read whole, by dbt: a btree
    there would cost a third of the load for nothing)."""
    table = raw_table(source, entity)
    index = f"{source}__{entity}__record_idx"
    with conn.cursor() as cur:
        # look first, without a lock: CREATE INDEX IF NOT EXISTS on an index that exists still waits
        # for the table's lock, i.e. for any load into it still running (every task starts here)
        cur.execute("select to_regclass(%s), to_regclass(%s)", (table, f"raw.{index}"))
        has_table, has_index = (value is not None for value in cur.fetchone())
        if has_table and (has_index or not record_index):
            return table
        cur.execute(
            f"""
            create table if not exists {table} (
                _batch_id   text not null,
                _loaded_at  timestamptz not null,
                _record_id  text not null,
                _updated_at timestamptz,
                payload     jsonb not null
            )
            """
        )
        if record_index:
            cur.execute(f"create index if not exists {index} on {table} (_record_id, _updated_at)")
    return table


class InstantWatermark:
    """An API's "modified/created since" watermark: the newest instant seen, plus the ids seen at it.

    APIs filter inclusively (``>=``) on a timestamp that many records can share, so the instant
    alone would either reload or lose records at the boundary. Stored as ``{key: instant, "ids":
    [...]}`` (``key`` is "ms" or "ts", the instant's unit). ``is_new`` tells whether a record was not
    loaded by the run that stored the watermark; ``saw`` records one that this run loads;
    ``value()`` is the next watermark (None when nothing was ever seen).
    """

    def __init__(self, stored: dict[str, Any] | None, key: str = "ms") -> None:
        self.key = key
        self.instant: int | None = stored.get(key) if stored else None
        self.ids: frozenset[str] = frozenset(stored.get("ids", [])) if stored else frozenset()
        self._seen_instant, self._seen_ids = self.instant, set(self.ids)

    @classmethod
    def starting_at(cls, instant: int, key: str = "ms") -> InstantWatermark:
        """A watermark that takes everything from ``instant`` on (for a ``since`` re-read)."""
        return cls({key: instant - 1, "ids": []}, key)

    def is_new(self, instant: int, record_id: str) -> bool:
        return (
            self.instant is None
            or instant > self.instant
            or (instant == self.instant and record_id not in self.ids)
        )

    def saw(self, instant: int, record_id: str) -> None:
        if self._seen_instant is None or instant > self._seen_instant:
            self._seen_instant, self._seen_ids = instant, {record_id}
        elif instant == self._seen_instant:
            self._seen_ids.add(record_id)

    @property
    def advanced(self) -> bool:
        """Whether anything new was seen since the stored watermark."""
        return self._seen_instant != self.instant or self._seen_ids != set(self.ids)

    def value(self) -> dict[str, Any] | None:
        if self._seen_instant is None:
            return None
        return {self.key: self._seen_instant, "ids": sorted(self._seen_ids)}


def get_watermark(conn: psycopg.Connection, source: str, entity: str) -> Any:
    row = conn.execute(
        "select watermark from ops.ingest_state where source = %s and entity = %s", (source, entity)
    ).fetchone()
    if not row or row[0] is None:
        return None
    return json.loads(row[0])


def _set_watermark(conn: psycopg.Connection, source: str, entity: str, watermark: Any) -> None:
    conn.execute(
        """
        insert into ops.ingest_state (source, entity, watermark, updated_at)
        values (%s, %s, %s, now())
        on conflict (source, entity) do update set watermark = excluded.watermark, updated_at = now()
        """,
        (source, entity, json.dumps(watermark)),
    )


def reset_watermark(conn: psycopg.Connection, source: str, entity: str) -> None:
    conn.execute("delete from ops.ingest_state where source = %s and entity = %s", (source, entity))


def load_batch(
    conn: psycopg.Connection,
    source: str,
    entity: str,
    items: Iterable[Record | Reject],
    *,
    watermark_from: Any,
    next_watermark: callable,  # type: ignore[valid-type]
) -> BatchResult:
    """Stream ``items`` into the raw table in one transaction with the new watermark.

    ``next_watermark()`` is called after the stream is exhausted and returns the
    watermark to store (the connector tracks it while yielding).
    """
    ensure_schemas(conn)
    table = ensure_raw_table(conn, source, entity)
    conn.commit()
    batch_id = f"{source}-{entity}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    result = BatchResult(source, entity, batch_id, watermark_from=watermark_from)
    started = time.monotonic()
    rejects: list[Reject] = []

    try:
        result.rows_loaded = copy_rows(conn, table, RAW_COLUMNS, record_rows(batch_id, items, rejects))
        _flush_rejects(conn, source, entity, batch_id, rejects, result)
        result.watermark_to = next_watermark()
        commit_batch(conn, result)
    except BaseException:
        conn.rollback()
        raise
    result.duration_s = round(time.monotonic() - started, 3)
    log.info(
        "%s.%s: batch %s loaded %d rows, rejected %d, in %.1fs",
        source,
        entity,
        batch_id,
        result.rows_loaded,
        result.rows_rejected,
        result.duration_s,
    )
    return result


def storable_payload(record: Record) -> str | Reject:
    """The record's payload as the JSON text the raw table stores, or why PostgreSQL cannot store it.

    Text that is valid JSON may still not fit ``jsonb``/``text``: a NUL character, a lone UTF-16
    surrogate (half an emoji), a NaN or infinite number, a value that is not JSON at all; and an id
    must be short plain text. Such a record goes to ``raw.rejects`` with the reason, instead of
    failing the whole batch.
    """
    rid = record.record_id
    where = f"record {rid[:80]!a}" if len(rid) <= MAX_ID_CHARS else "record"
    if len(rid) > MAX_ID_CHARS:
        return Reject(f"bad_id: id longer than {MAX_ID_CHARS} characters", record.payload)
    if "\x00" in rid or _SURROGATE.search(rid):
        return Reject("bad_id: id holds a NUL character or a lone surrogate", record.payload)
    try:
        text = json.dumps(record.payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return Reject(f"bad_value: a number is NaN or infinite ({where})", record.payload)
    except TypeError as exc:
        return Reject(f"bad_type: a value is not JSON data ({where}: {str(exc)[:80]})", record.payload)
    if "\\u0000" in text and _JSON_NUL.search(text):
        return Reject(
            f"bad_text: a value holds a NUL character, which PostgreSQL cannot store ({where})", text
        )
    if not text.isascii() and _SURROGATE.search(text):
        return Reject(f"bad_text: a value holds a lone UTF-16 surrogate (half a character) ({where})", text)
    return text


def _reject_text(payload: Any) -> str:
    """A reject's payload as text PostgreSQL can store, whatever it holds."""
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False, default=repr)
    text = text.replace("\x00", "\ufffd")
    if not text.isascii() and _SURROGATE.search(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def raw_row(batch_id: str, record: Record) -> tuple | Reject:
    """The raw table's row for a record (``_loaded_at`` is the transaction's time), or why it cannot be one."""
    payload = storable_payload(record)
    if isinstance(payload, Reject):
        return payload
    return (batch_id, "now", record.record_id, record.updated_at, payload)


def record_rows(batch_id: str, items: Iterable[Record | Reject], rejects: list[Reject]) -> Iterator[tuple]:
    """The raw rows of ``items``; rejects are collected in ``rejects`` (written after the COPY: one
    connection cannot run a second statement mid-COPY)."""
    for item in items:
        row = item if isinstance(item, Reject) else raw_row(batch_id, item)
        if isinstance(row, Reject):
            rejects.append(row)
        else:
            yield row


def record_copy_line(batch_id: str, record: Record) -> str | Reject:
    """A record's raw row as a COPY text line, or why it cannot be one."""
    row = raw_row(batch_id, record)
    return row if isinstance(row, Reject) else copy_line(row)


def commit_batch(conn: psycopg.Connection, result: BatchResult) -> None:
    """Advance the watermark (when there is one) and record the batch, then commit — all or nothing.

    Every loader ends its batch here, so rows, watermark and batch record land in one transaction.
    """
    if result.watermark_to is not None:
        _set_watermark(conn, result.source, result.entity, result.watermark_to)
    conn.execute(
        """
        insert into ops.ingest_batches
            (batch_id, source, entity, rows_loaded, rows_rejected, watermark_from, watermark_to)
        values (%s, %s, %s, %s, %s, %s, %s)
        """,
        (
            result.batch_id,
            result.source,
            result.entity,
            result.rows_loaded,
            result.rows_rejected,
            json.dumps(result.watermark_from),
            json.dumps(result.watermark_to),
        ),
    )
    conn.commit()


def _flush_rejects(
    conn: psycopg.Connection,
    source: str,
    entity: str,
    batch_id: str,
    rejects: list[Reject],
    result: BatchResult,
) -> None:
    if not rejects:
        return
    rows = []
    for rej in rejects:
        rows.append((source, entity, batch_id, _reject_text(rej.reason), _reject_text(rej.payload)))
        key = rej.reason.split(":", 1)[0]
        result.reject_reasons[key] = result.reject_reasons.get(key, 0) + 1
    copy_rows(conn, "raw.rejects", ("source", "entity", "_batch_id", "reason", "payload"), rows)
    result.rows_rejected += len(rejects)
    rejects.clear()
