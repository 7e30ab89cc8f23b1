"""Web (pixel) events from JSON-lines files partitioned by day: ``<root>/dt=YYYY-MM-DD/*.jsonl``.

Where the files are: the Airflow connection ``web_events`` (extra ``path``),
else the sandbox world's ``web_events`` folder.

What a run loads: every file not seen before, and the new part of every file
that grew since it was last read (files are remembered with their size, mtime,
the byte offset read up to and a hash of the bytes just before it, in
``ops.web_events_files``). A file rewritten in place (its old tail changed) is
read again from the start; its events already in the warehouse are not loaded
twice.

Each line is validated (valid UTF-8 JSON object, ``event_id``, a known
``event_name``, field types, a real timestamp neither before 2000 nor in the
future); a bad line goes to ``raw.rejects`` with a reason naming its file and
line number, and the rest loads. Events land in ``raw.web_events__events``
(``_record_id`` = ``event_id``, ``_updated_at`` = ``event_time``, ``payload`` =
the line as it was written). Duplicate ``event_id``s — within a file, across
files, against what is already loaded — are dropped and counted as skipped.

How it stays fast and flat: the table has a unique index on ``_record_id``,
and valid lines are streamed straight into it with COPY, in chunks of bounded
size, each behind a savepoint. A chunk that hits an ``event_id`` already
loaded is rolled back to its savepoint and loaded again without the ids that
a lookup found (only chunks that hold duplicates pay for a lookup). The
common lines are recognised by one compiled regular expression that fully
checks their JSON, so the line passes through as the payload without being
parsed into Python objects (its fields only put in jsonb's key order, which
spares the server sorting them; the stored jsonb is the same); other lines go
through ``json.loads``. A first load into an empty table (no pages at all)
copies without the unique index, under an exclusive lock, then drops repeated
ids (the first copied wins) and builds the index once, in the same transaction:
building it costs about a third of maintaining it row by row. Memory holds one
chunk, whatever the size of the files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors

from audience import connections, ingest
from audience.ingest import RAW_COLUMNS, BatchResult, Reject

log = logging.getLogger(__name__)

SOURCE = "web_events"
ENTITY = "events"
EVENT_NAMES = frozenset(
    ("PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase", "CartAbandon")
)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_ID_LENGTH = 200  # longer ids are not event ids (and would bloat the unique index)
MAX_LINE_CHARS = 1 << 20
TAIL_BYTES = 4096  # bytes before the read offset hashed to recognise an append
PARTITION = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")

# The lines a pixel writes, in their usual key order, checked in full by one regular expression:
# strings without quote, backslash or control characters, plain numbers, known event names. A line
# that does not match is not necessarily bad: it goes through json.loads and the same checks.
# Groups: 1 event_id, 2 event_name, 3 url, 4 value, 5 currency, 6 contact_id, 7 anonymous_id,
# 8 event_time (ids, names and times without their quotes, the others as JSON tokens).
# Possessive quantifiers (*+, {1,200}+): a string's characters exclude the closing quote, so giving
# any back can never help a match; not offering to saves the engine about a seventh of its time.
_STR = r'"[^"\\\x00-\x1f]*+"'
_FAST = re.compile(
    r'\{"event_id":"([^"\\\x00-\x1f]{1,200}+)",'
    r'"event_name":"(PageView|ViewContent|AddToCart|InitiateCheckout|Purchase|CartAbandon)",'
    rf'"url":({_STR}|null),'
    r'"value":(-?(?:0|[1-9]\d{0,15})(?:\.\d{1,6})?|null),'
    rf'"currency":({_STR}|null),'
    rf'"contact_id":({_STR}|null),'
    rf'"anonymous_id":({_STR}|null),'
    r'"event_time":"(\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?Z)"\}'
)
_OPTIONAL_STR_FIELDS = ("url", "currency", "contact_id", "anonymous_id")

FILES_DDL = """
create table if not exists ops.web_events_files (
    root        text not null,
    path        text not null,
    size        bigint not null,
    mtime_ns    bigint not null,
    read_offset bigint not null,
    lines       bigint not null,
    tail_sha1   text not null,
    batch_id    text not null,
    loaded_at   timestamptz not null default now(),
    primary key (root, path)
)
"""


@dataclass(frozen=True)
class WebEventsSettings:
    root: Path
    chunk_bytes: int = 8 << 20
    future_tolerance: timedelta = timedelta(hours=24)

    @classmethod
    def resolve(cls) -> WebEventsSettings:
        """From the Airflow connection ``web_events`` (extra ``path``), else the sandbox world's events."""
        conn = connections.get(SOURCE)
        if conn is not None:
            path = conn.extra.get("path")
            if not path:
                raise connections.SettingError(
                    "the Airflow connection 'web_events' has no extra 'path': set it to the folder that holds "
                    "the dt=YYYY-MM-DD partitions"
                )
            root = Path(str(path).removeprefix("file://")).expanduser()
        else:
            from audience.runtime import world_dir  # noqa: PLC0415

            root = world_dir() / "web_events"
        return cls(root)


@dataclass
class _FileState:
    size: int
    mtime_ns: int
    read_offset: int
    lines: int
    tail_sha1: str


@dataclass
class _Plan:
    rel: str
    path: Path
    size: int
    mtime_ns: int
    start_offset: int
    start_line: int
    reason: str  # new | grew | rewritten | full_refresh


@dataclass
class _Run:
    """What the line reader reports to the loader while it streams."""

    lines_read: int = 0
    files_done: dict[str, tuple[_Plan, _FileState]] = field(default_factory=dict)


def ensure_events_table(conn: psycopg.Connection) -> str:
    """``raw.web_events__events`` with the framework's columns and a unique index on ``_record_id``.

    The unique index replaces the framework's ``(_record_id, _updated_at)`` index: it answers the same
    lookups and is what drops duplicate events.
    """
    table = ingest.raw_table(SOURCE, ENTITY)
    with conn.cursor() as cur:
        # looked up without a lock first (see ingest.ensure_raw_table): a bulk load holds this
        # table exclusively for minutes, and every other task passes here when it starts
        cur.execute(
            "select to_regclass(%s), to_regclass(%s), to_regclass('ops.web_events_files')",
            (table, f"raw.{INDEX_NAME}"),
        )
        if all(value is not None for value in cur.fetchone()):
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
        cur.execute(_index_sql(table, if_not_exists=True))
        cur.execute(FILES_DDL)
    return table


INDEX_NAME = f"{SOURCE}__{ENTITY}__event_id_key"


def _index_sql(table: str, *, if_not_exists: bool = False) -> str:
    maybe = "if not exists " if if_not_exists else ""
    return f'create unique index {maybe}{INDEX_NAME} on {table} (_record_id collate "C")'


def _tail_sha1(path: Path, offset: int) -> str:
    start = max(0, offset - TAIL_BYTES)
    with open(path, "rb") as fh:
        fh.seek(start)
        return hashlib.sha1(fh.read(offset - start)).hexdigest()  # noqa: S324 - change detection, not security


def _known_files(conn: psycopg.Connection, root: str) -> dict[str, _FileState]:
    rows = conn.execute(
        "select path, size, mtime_ns, read_offset, lines, tail_sha1 from ops.web_events_files where root = %s",
        (root,),
    ).fetchall()
    return {r[0]: _FileState(*r[1:]) for r in rows}


def plan_files(
    root: Path, known: dict[str, _FileState], *, since: str | None = None, full_refresh: bool = False
) -> tuple[list[_Plan], int]:
    """The files to read (in partition order) and how many known files are unchanged."""
    if not root.is_dir():
        raise FileNotFoundError(
            f"web events folder {root} does not exist: set the Airflow connection 'web_events' extra 'path' "
            "to the folder holding the dt=YYYY-MM-DD partitions (or generate the sandbox world)"
        )
    since_day = since[:10] if since else None
    plans: list[_Plan] = []
    unchanged = ignored = 0
    for part in sorted(root.iterdir()):
        m = PARTITION.match(part.name)
        if not m or not part.is_dir():
            ignored += 1
            continue
        try:
            datetime.strptime(m.group(1), "%Y-%m-%d")
        except ValueError:
            ignored += 1
            continue
        if since_day and m.group(1) < since_day:
            continue
        for path in sorted(part.glob("*.jsonl")):
            if path.name.startswith(".") or not path.is_file():
                continue
            st = path.stat()
            rel = f"{part.name}/{path.name}"
            prev = None if full_refresh else known.get(rel)
            if prev is None:
                plans.append(
                    _Plan(
                        rel, path, st.st_size, st.st_mtime_ns, 0, 0, "full_refresh" if full_refresh else "new"
                    )
                )
            elif st.st_size == prev.size and st.st_mtime_ns == prev.mtime_ns:
                unchanged += 1
            elif st.st_size >= prev.read_offset and _tail_sha1(path, prev.read_offset) == prev.tail_sha1:
                if st.st_size == prev.read_offset:
                    unchanged += 1  # touched, nothing new
                    continue
                plans.append(
                    _Plan(rel, path, st.st_size, st.st_mtime_ns, prev.read_offset, prev.lines, "grew")
                )
            else:
                plans.append(_Plan(rel, path, st.st_size, st.st_mtime_ns, 0, 0, "rewritten"))
    if ignored:
        log.warning("web_events: ignored %d entries of %s that are not dt=YYYY-MM-DD folders", ignored, root)
    return plans, unchanged


def _copy_escape(text: str) -> str:
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


class LineChecker:
    """Validates one line; returns the COPY fields (event_id, event_time, payload) or a reject reason."""

    def __init__(self, now: datetime, future_tolerance: timedelta) -> None:
        self.latest = now + future_tolerance
        self._fast = _FAST.fullmatch
        self._iso = datetime.fromisoformat
        self.day_ok: dict[str, bool] = {}

    def day(self, day: str) -> bool:
        """Whether every time on ``day`` (YYYY-MM-DD) is acceptable, so its lines need no further check."""
        try:
            ok = EARLIEST.date() <= date.fromisoformat(day) < self.latest.date()
        except ValueError:
            ok = False
        self.day_ok[day] = ok
        return ok

    def check(self, text: str, where: str) -> tuple[str, str, str] | str:
        m = self._fast(text)
        if m is not None and _has_identity(m.group(6), m.group(7)):
            event_id, ts = m.group(1, 8)
            reason = self._check_time(ts, where)
            if reason:
                return reason
            return event_id, ts, text
        return self._check_slow(text, where)

    def _check_time(self, value: str, where: str) -> str | None:
        try:
            ts = self._iso(value)
        except ValueError:
            return f"bad_timestamp: {where}: event_time is not an ISO 8601 date-time"
        if ts.tzinfo is None:
            return f"bad_timestamp: {where}: event_time has no time zone"
        if ts < EARLIEST:
            return f"bad_timestamp: {where}: event_time is before {EARLIEST.date()}"
        if ts > self.latest:
            return f"bad_timestamp: {where}: event_time is in the future"
        return None

    def _check_slow(self, text: str, where: str) -> tuple[str, str, str] | str:
        if len(text) > MAX_LINE_CHARS:
            return f"too_long: {where}: line longer than {MAX_LINE_CHARS} characters"
        try:
            obj = json.loads(text)
        except ValueError as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "invalid"
            return f"bad_json: {where}: not valid JSON ({msg})"
        if not isinstance(obj, dict):
            return f"not_an_object: {where}: the line is JSON but not an object"
        event_id = obj.get("event_id")
        if event_id is None or event_id == "":
            return f"missing_id: {where}: no event_id"
        if not isinstance(event_id, str):
            return f"bad_type: {where}: event_id is a {type(event_id).__name__}, not a string"
        if len(event_id) > MAX_ID_LENGTH:
            return f"bad_id: {where}: event_id longer than {MAX_ID_LENGTH} characters"
        name = obj.get("event_name")
        if name not in EVENT_NAMES:
            kind = "missing" if name is None else "unknown"
            return f"unknown_event: {where}: event_name is {kind} (event {event_id})"
        for key in _OPTIONAL_STR_FIELDS:
            value = obj.get(key)
            if value is not None and not isinstance(value, str):
                return (
                    f"bad_type: {where}: {key} is a {type(value).__name__}, not a string (event {event_id})"
                )
        value = obj.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"bad_type: {where}: value is a {type(value).__name__}, not a number (event {event_id})"
        if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
            return f"bad_type: {where}: value is not a finite number (event {event_id})"
        if not obj.get("contact_id") and not obj.get("anonymous_id"):
            return f"missing_identity: {where}: neither contact_id nor anonymous_id (event {event_id})"
        ts = obj.get("event_time")
        if not isinstance(ts, str):
            return f"bad_timestamp: {where}: event_time is missing or not a string (event {event_id})"
        reason = self._check_time(ts, where)
        if reason:
            return f"{reason} (event {event_id})"
        # jsonb refuses NUL characters and lone surrogates that JSON text may carry as \\u escapes
        payload = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        if "\\u0000" in payload:
            return f"bad_json: {where}: contains a NUL character, which PostgreSQL cannot store (event {event_id})"
        try:
            payload.encode("utf-8")
            event_id.encode("utf-8")
        except UnicodeEncodeError:
            return f"bad_json: {where}: contains an unpaired surrogate escape (event {event_id})"
        if "\x00" in event_id:
            return f"bad_id: {where}: event_id contains a NUL character"
        return _copy_escape(event_id), self._iso(ts).isoformat(), _copy_escape(payload)


def _has_identity(contact_id: str, anonymous_id: str) -> bool:
    """Whether either JSON token (``null``, ``""`` or a string) is a non-empty string."""
    return (len(contact_id) > 2 and contact_id != "null") or (
        len(anonymous_id) > 2 and anonymous_id != "null"
    )


def _reject_payload(raw: bytes) -> str:
    text = raw[:65536].decode("utf-8", errors="replace").rstrip("\r\n")
    return text.replace("\x00", "\ufffd")


def _line_re() -> re.Pattern[str]:
    # a valid common line (groups 1-8 as in _FAST), or any other line (group 9)
    return re.compile(rf"(?:{_FAST.pattern})\r?\n|([^\n]*)\n")


_LINE = _line_re()
BLOCK_BYTES = 1 << 20


def iter_blocks(
    plans: list[_Plan], checker: LineChecker, run: _Run, prefix: str
) -> Iterator[tuple[list[str], list[str], list[Reject]]]:
    """Yield ``(event_ids, COPY lines, rejects)`` per block of about 1 MB of file.

    When a file is done its new state goes to ``run.files_done``.
    Blocks are read whole and matched with one regular expression: no Python work per byte.
    """
    finditer = _LINE.finditer
    day_ok = checker.day_ok
    for plan in plans:
        offset, lineno = plan.start_offset, plan.start_line
        rel = plan.rel
        try:
            fh = open(plan.path, "rb")  # noqa: SIM115 - closed below, the generator may be suspended
        except OSError as exc:
            raise RuntimeError(
                f"web events file {rel} cannot be read ({exc.strerror}); fix its permissions "
                "or remove it, then re-run"
            ) from None
        with fh:
            fh.seek(offset)
            carry = b""
            while True:
                data = fh.read(BLOCK_BYTES)
                at_eof = not data
                data = carry + data
                if not data:
                    break
                cut = len(data) if at_eof else data.rfind(b"\n") + 1
                if cut == 0:  # no newline yet in this much data: a long line, keep reading
                    carry = data
                    continue
                block, carry = data[:cut], data[cut:]
                if at_eof and not block.endswith(b"\n"):
                    block += b"\n"  # a last line without its newline
                ids: list[str] = []
                texts: list[str] = []
                rejects: list[Reject] = []
                try:
                    text = block.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
                if text is None:  # somewhere in this block is a line that is not UTF-8: line by line
                    for raw in block.splitlines(keepends=True):
                        lineno += 1
                        try:
                            one = raw.decode("utf-8")
                        except UnicodeDecodeError:
                            rejects.append(
                                Reject(
                                    f"bad_encoding: line {lineno} of {rel}: not UTF-8", _reject_payload(raw)
                                )
                            )
                            continue
                        _check_one(checker, one.rstrip("\r\n"), lineno, rel, prefix, ids, texts, rejects)
                else:
                    for m in finditer(text):
                        lineno += 1
                        event_id, name, url, value, currency, contact, anon, ts, other = m.groups()
                        if other is None:
                            ok = day_ok.get(ts[:10])
                            if (ok is True or ok is None and checker.day(ts[:10]) is True) and (
                                (len(contact) > 2 and contact != "null") or (len(anon) > 2 and anon != "null")
                            ):
                                ids.append(event_id)
                                # the same object with its keys in jsonb's order (length, then bytes), which
                                # spares the server sorting them: the stored jsonb is the same
                                texts.append(
                                    f'{prefix}{event_id}\t{ts}\t{{"url":{url},"value":{value},'
                                    f'"currency":{currency},"event_id":"{event_id}","contact_id":{contact},'
                                    f'"event_name":"{name}","event_time":"{ts}","anonymous_id":{anon}}}\n'
                                )
                                continue
                            other = m.group().rstrip("\r\n")
                        _check_one(checker, other.rstrip("\r"), lineno, rel, prefix, ids, texts, rejects)
                offset += cut
                yield ids, texts, rejects
                if at_eof:
                    break
            run.lines_read += lineno - plan.start_line
        state = _FileState(plan.size, plan.mtime_ns, offset, lineno, _tail_sha1(plan.path, offset))
        if offset != plan.size:  # the file changed while we read it: remember what we read
            state.size = offset
            state.mtime_ns = -1
        run.files_done[plan.rel] = (plan, state)


def _check_one(
    checker: LineChecker,
    text: str,
    lineno: int,
    rel: str,
    prefix: str,
    ids: list[str],
    texts: list[str],
    rejects: list[Reject],
) -> None:
    if not text.strip():
        return  # blank line
    got = checker.check(text, f"line {lineno} of {rel}")
    if type(got) is str:
        rejects.append(Reject(got, text[:65536].replace("\x00", "\ufffd")))
        return
    event_id, ts, payload = got
    ids.append(event_id)
    texts.append(f"{prefix}{event_id}\t{ts}\t{payload}\n")


class _ChunkLoader:
    """COPY chunks of rows into the raw table behind savepoints, dropping ids already loaded."""

    def __init__(self, conn: psycopg.Connection, table: str, chunk_bytes: int) -> None:
        self.conn = conn
        self.table = table
        self.chunk_bytes = chunk_bytes
        cols = ", ".join(RAW_COLUMNS)
        self.copy_sql = f"copy {table} ({cols}) from stdin"
        self.loaded = 0
        self.skipped = 0
        self.lookups = 0
        self.lookup_mode = False  # after a chunk met duplicates, look ids up before copying
        self.bulk = False  # the table was empty: its unique index is dropped and built at the end

    def start_bulk(self) -> bool:
        """Into an empty table, COPY without the unique index and build it once at the end (``finish``).

        Building the index from all rows at once costs about a third of maintaining it row by row. The
        table is locked for the run (dropping the index takes an exclusive lock), so nothing else can
        add rows meanwhile; ``finish`` drops duplicates and restores the index in the same transaction,
        so no committed state ever lacks it. Only for a table with no pages at all, so that rows lie
        in the order they were copied and "first occurrence wins" can be told from their position.
        """
        size = "select pg_relation_size(%s::regclass)"
        if self.conn.execute(size, (self.table,)).fetchone()[0] != 0:
            return False
        self.conn.execute(f"lock table {self.table} in access exclusive mode")
        if self.conn.execute(size, (self.table,)).fetchone()[0] != 0:
            return False  # another run loaded it meanwhile
        schema = self.table.split(".", 1)[0]
        self.conn.execute(f"drop index {schema}.{INDEX_NAME}")
        # empty already: a new (empty) file for the table, in this transaction. On a server with
        # wal_level minimal (the embedded one) the rows copied into it and the index built on them
        # are then written without WAL, as dbt's CREATE TABLE AS are
        self.conn.execute(f"truncate {self.table}")
        self.bulk = True
        return True

    def finish(self) -> None:
        """In bulk mode: drop repeated ids (keeping the first copied) and build the unique index."""
        if not self.bulk:
            return
        self.bulk = False
        self.conn.execute("savepoint web_events_index")
        try:
            self.conn.execute(_index_sql(self.table))
            self.conn.execute("release savepoint web_events_index")
            return
        except errors.UniqueViolation:
            self.conn.execute("rollback to savepoint web_events_index")
        self.lookups += 1
        cur = self.conn.execute(
            f"""
            delete from {self.table} t using (
                select ctid from (
                    select ctid, row_number() over (partition by _record_id collate "C" order by ctid) as n
                    from {self.table}
                ) numbered where n > 1
            ) repeated
            where t.ctid = repeated.ctid
            """
        )
        dropped = cur.rowcount
        self.loaded -= dropped
        self.skipped += dropped
        self.conn.execute(_index_sql(self.table))

    def _load_checked(self, ids: list[str], texts: list[str]) -> int:
        """Load rows without the ids already in the table or repeated here; returns rows loaded."""
        self.lookups += 1
        existing = {
            r[0]
            for r in self.conn.execute(
                f'select _record_id from {self.table} where _record_id collate "C" = any(%s)',
                (list(set(ids)),),
            )
        }
        keep: list[str] = []
        for event_id, text in zip(ids, texts, strict=True):
            if event_id in existing:
                continue
            existing.add(event_id)
            keep.append(text)
        if keep:
            with self.conn.cursor() as cur, cur.copy(self.copy_sql) as cp:
                for i in range(0, len(keep), 4096):
                    cp.write("".join(keep[i : i + 4096]))
        self.skipped += len(ids) - len(keep)
        self.loaded += len(keep)
        return len(keep)

    def run(self, blocks: Iterator[tuple[list[str], list[str], list[Reject]]], flush_rejects: Any) -> None:
        """Consume ``blocks`` (read in a thread, so files are parsed while the server ingests).

        ``flush_rejects(rejects)`` runs between chunks, when no COPY is open.
        """
        stream = _Prefetch(blocks)
        try:
            self._run(iter(stream), flush_rejects)
            self.finish()
        finally:
            stream.close()

    def _run(self, blocks: Iterator[tuple[list[str], list[str], list[Reject]]], flush_rejects: Any) -> None:
        exhausted = False
        while not exhausted:
            ids: list[str] = []
            texts: list[str] = []
            rejects: list[Reject] = []
            size = 0
            if self.lookup_mode:
                for b_ids, b_texts, b_rejects in blocks:
                    ids += b_ids
                    texts += b_texts
                    rejects += b_rejects
                    size += BLOCK_BYTES
                    if size >= self.chunk_bytes:
                        break
                else:
                    exhausted = True
                if ids and self._load_checked(ids, texts) == len(ids):
                    self.lookup_mode = False  # no duplicates any more: back to the optimistic path
                flush_rejects(rejects)
                continue
            if self.bulk:  # no unique index to hit: no savepoint either
                with self.conn.cursor() as cur, cur.copy(self.copy_sql) as cp:
                    for b_ids, b_texts, b_rejects in blocks:
                        self.loaded += len(b_ids)
                        rejects += b_rejects
                        if b_texts:
                            cp.write("".join(b_texts))
                        size += BLOCK_BYTES
                        if size >= self.chunk_bytes:
                            break
                    else:
                        exhausted = True
                flush_rejects(rejects)
                continue
            self.conn.execute("savepoint web_events_chunk")
            try:
                with self.conn.cursor() as cur, cur.copy(self.copy_sql) as cp:
                    for b_ids, b_texts, b_rejects in blocks:
                        ids += b_ids
                        texts += b_texts
                        rejects += b_rejects
                        if b_texts:
                            cp.write("".join(b_texts))
                        size += BLOCK_BYTES
                        if size >= self.chunk_bytes:
                            break
                    else:
                        exhausted = True
                self.conn.execute("release savepoint web_events_chunk")
                self.loaded += len(ids)
            except errors.UniqueViolation:
                self.conn.execute("rollback to savepoint web_events_chunk")
                self.lookup_mode = True
                self._load_checked(ids, texts)
            flush_rejects(rejects)


class _Prefetch:
    """Runs an iterator in a background thread, a few items ahead (bounded memory)."""

    _DONE = object()

    def __init__(self, source: Iterator[Any], depth: int = 8) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fill, args=(source,), name="web-events-reader", daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, source: Iterator[Any]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(_Failure(exc))

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass
class _Failure:
    exc: BaseException


def load_events(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: WebEventsSettings | None = None,
) -> BatchResult:
    """Load new event files and the new part of grown ones into ``raw.web_events__events``.

    ``since`` (``YYYY-MM-DD``) limits the run to partitions from that day on; ``full_refresh``
    re-reads every file (events already loaded are still not loaded twice).
    """
    settings = settings or WebEventsSettings.resolve()
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    started = time.monotonic()
    ensure_schemas(conn)
    table = ensure_events_table(conn)
    conn.commit()
    root = settings.root.resolve()
    known = _known_files(conn, str(root))
    plans, unchanged = plan_files(root, known, since=since, full_refresh=full_refresh)
    watermark_from = {"files": len(known)}
    batch_id = f"{SOURCE}-{ENTITY}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    result = BatchResult(SOURCE, ENTITY, batch_id, watermark_from=watermark_from)
    run = _Run()
    loaded_at = datetime.now(UTC)
    checker = LineChecker(loaded_at, settings.future_tolerance)
    prefix = f"{batch_id}\t{loaded_at.isoformat()}\t"
    loader = _ChunkLoader(conn, table, settings.chunk_bytes)

    def flush_rejects(rejects: list[Reject]) -> None:
        if rejects:
            ingest._flush_rejects(conn, SOURCE, ENTITY, batch_id, rejects, result)  # noqa: SLF001

    try:
        if plans:
            loader.start_bulk()
        loader.run(iter_blocks(plans, checker, run, prefix), flush_rejects)
        if run.files_done:
            with conn.cursor() as cur:
                cur.executemany(
                    """
                    insert into ops.web_events_files
                        (root, path, size, mtime_ns, read_offset, lines, tail_sha1, batch_id, loaded_at)
                    values (%s, %s, %s, %s, %s, %s, %s, %s, now())
                    on conflict (root, path) do update set size = excluded.size, mtime_ns = excluded.mtime_ns,
                        read_offset = excluded.read_offset, lines = excluded.lines, tail_sha1 = excluded.tail_sha1,
                        batch_id = excluded.batch_id, loaded_at = now()
                    """,
                    [
                        (
                            str(root),
                            rel,
                            st.size,
                            st.mtime_ns,
                            st.read_offset,
                            st.lines,
                            st.tail_sha1,
                            batch_id,
                        )
                        for rel, (_, st) in run.files_done.items()
                    ],
                )
        result.rows_loaded = loader.loaded
        result.rows_skipped = loader.skipped
        previous = ingest.get_watermark(conn, SOURCE, ENTITY) or {}
        latest = max(
            [p.rel.split("/", 1)[0] for p in plans]
            + ([previous["latest_partition"]] if previous.get("latest_partition") else []),
            default=None,
        )
        result.watermark_to = {
            "files": len(known | dict.fromkeys(run.files_done)),
            "files_read": len(run.files_done),
            "latest_partition": latest,
        }
        ingest.commit_batch(conn, result)
    except BaseException:
        conn.rollback()
        raise
    result.duration_s = round(time.monotonic() - started, 3)
    reasons: dict[str, int] = {}
    for p in plans:
        reasons[p.reason] = reasons.get(p.reason, 0) + 1
    log.info(
        "web_events.events: batch %s read %d lines from %d files (%s; %d unchanged): loaded %d, "
        "rejected %d, duplicates dropped %d (%d chunks looked up), in %.1fs",
        batch_id,
        run.lines_read,
        len(plans),
        ", ".join(f"{v} {k}" for k, v in sorted(reasons.items())) or "none new",
        unchanged,
        result.rows_loaded,
        result.rows_rejected,
        result.rows_skipped,
        loader.lookups,
        result.duration_s,
    )
    return result
