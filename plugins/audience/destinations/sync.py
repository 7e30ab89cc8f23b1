"""Keep one audience on one destination equal to ``marts.audience_members``.

The ledger ``ops.sync_state`` is the truth of what a platform holds: one row
per member sent (its key, the hash of the row sent, the row itself — digests
and the extern id only — so a removal can send exactly what was added).

One run:

1. compute the difference between the desired members and the ledger once,
   in SQL, into session temp tables numbered by ``seq``: adds = desired −
   held, plus held members whose row changed (re-add); removes = held −
   desired. No difference: done, no API call at all.
2. removals first (a withdrawn consent leaves the platform as soon as
   possible), then additions; read a page at a time from those tables and
   grouped into request-sized batches by the destination (Facebook rows as
   the server's JSON text, digests checked first in one query);
3. each batch's ledger rows are written from the temp table inside the server
   (an upsert, or one delete) while its request is in flight, and committed
   only once the platform acknowledged it (``num_received`` matched); a
   refusal rolls them back. A crash resumes without loss, re-sending at most
   the batch in flight (or the ``parallel_requests`` batches in flight), which
   is harmless: adds and removes are idempotent on the platforms;
4. the run, with its counts, is recorded in ``ops.sync_runs``.

An audience smaller than the destination's minimum (Facebook: 100, LinkedIn: 300) gets no
additions (outcome ``skipped_too_small``); removals still go out, because
consent withdrawals must reach the platform whatever the audience's size.

Logs carry counts, ids and durations only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from audience.destinations.base import Destination, DestinationError, UploadResult
from audience.destinations.lookalikes import ensure_lookalikes
from audience.settings import SettingError, env_int

log = logging.getLogger(__name__)

MEMBERS_TABLE = "marts.audience_members"
FETCH_SIZE = 2_000

SYNC_DDL = """
create schema if not exists ops;
create table if not exists ops.sync_state (
    destination          text not null,
    audience_key         text not null,
    platform_audience_id text not null,
    member_key           text not null,
    row_hash             text not null,
    member_row           text[] not null,
    synced_at            timestamptz not null default now(),
    primary key (destination, audience_key, member_key)
);
comment on table ops.sync_state is
    'What each platform holds: one row per member acknowledged by the platform (digests and extern ids only).';
create table if not exists ops.sync_runs (
    run_id               text primary key,
    audience_key         text not null,
    destination          text not null,
    platform_audience_id text,
    desired              bigint not null default 0,
    added                bigint not null default 0,
    removed              bigint not null default 0,
    invalid              bigint not null default 0,
    unchanged            bigint not null default 0,
    requests             bigint not null default 0,
    duration_s           double precision,
    outcome              text not null,
    message              text,
    invalid_samples      jsonb,
    started_at           timestamptz not null,
    finished_at          timestamptz
);
create index if not exists sync_runs_audience_idx on ops.sync_runs (audience_key, destination, started_at);
"""

OUTCOMES = ("running", "synced", "unchanged", "skipped_too_small", "dry_run", "locked", "failed")


@dataclass
class SyncResult:
    """What one run did. Counts and ids only: safe for logs and XComs."""

    run_id: str
    audience_key: str
    destination: str
    platform_audience_id: str | None = None
    desired: int = 0
    to_add: int = 0
    to_remove: int = 0
    added: int = 0
    removed: int = 0
    invalid: int = 0
    unchanged: int = 0
    requests: int = 0
    duration_s: float = 0.0
    outcome: str = "running"
    message: str = ""
    invalid_samples: dict[str, str] = field(default_factory=dict)
    lookalike_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["invalid_samples"] = len(self.invalid_samples)
        return data


def ensure_sync_tables(conn: psycopg.Connection) -> None:
    """Create ``ops.sync_state`` and ``ops.sync_runs`` if missing (idempotent); commits."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('audience.ensure_sync_tables'))")
        cur.execute(SYNC_DDL)
    conn.commit()


def make_destination(name: str) -> Destination:
    """The destination called ``name``, configured from its Airflow connection or the sandbox."""
    if name == "facebook":
        from audience.destinations.facebook import FacebookDestination  # noqa: PLC0415

        return FacebookDestination()
    if name == "linkedin":
        from audience.destinations.linkedin import LinkedInDestination  # noqa: PLC0415

        return LinkedInDestination()
    raise ValueError(f"unknown destination {name!r}; known: facebook, linkedin")


MAX_PARALLEL_REQUESTS = 8


def resolve_parallel_requests(value: int | None = None) -> int:
    """Upload requests in flight at once: ``value``, else ``AUDIENCE_SYNC_PARALLEL_REQUESTS``, else 1."""
    if value is None:
        return env_int("AUDIENCE_SYNC_PARALLEL_REQUESTS", 1, minimum=1, maximum=MAX_PARALLEL_REQUESTS)
    if not 1 <= int(value) <= MAX_PARALLEL_REQUESTS:
        raise SettingError(f"parallel_requests={value} must be 1..{MAX_PARALLEL_REQUESTS}")
    return int(value)


def audience_description(audience_key: str) -> str:
    """A neutral description: names must not suggest health, finances or other sensitive traits."""
    return f"Customer list kept in sync by the audience platform (segment {audience_key})."


# --------------------------------------------------------------------------- SQL


@dataclass(frozen=True)
class _Queries:
    desired_count: sql.Composed
    adds: sql.Composed
    removes: sql.Composed


def _queries(destination: Destination) -> _Queries:
    cols = [sql.Identifier(c) for c in destination.member_columns]
    values = sql.SQL(", ").join(sql.SQL("coalesce(m.{}, '')").format(c) for c in cols)
    member_key = sql.SQL("coalesce({})").format(
        sql.SQL(", ").join(
            sql.SQL("nullif(m.{}, '')").format(sql.Identifier(c)) for c in destination.identity_columns
        )
    )
    row_hash = sql.SQL("encode(sha256(convert_to(concat_ws(chr(31), {}), 'UTF8')), 'hex')").format(values)
    # A destination whose identity several people may share (LinkedIn: the e-mail hash) holds each
    # identity once: one desired row per member key (the smallest row hash when rows differ).
    dedupe = bool(getattr(destination, "dedupe_members", False))
    members = sql.SQL(
        "{table} m where m.audience_key = %(audience_key)s and {member_key} is not null"
    ).format(table=sql.SQL(MEMBERS_TABLE), member_key=member_key)
    desired = sql.SQL(
        "select {distinct}{member_key} as member_key, {row_hash} as row_hash, array[{values}] as member_row "
        "from {members}{order}"
    ).format(
        distinct=sql.SQL("distinct on (1) " if dedupe else ""),
        member_key=member_key,
        row_hash=row_hash,
        values=values,
        members=members,
        order=sql.SQL(" order by 1, 2" if dedupe else ""),
    )
    # removals only need the desired keys: no digest of the rows
    desired_keys = sql.SQL("select distinct {member_key} as member_key from {members}").format(
        member_key=member_key, members=members
    )
    held = sql.SQL(
        "select member_key, row_hash, member_row from ops.sync_state "
        "where destination = %(destination)s and audience_key = %(audience_key)s"
    )
    desired_count = sql.SQL("select count({distinct}{member_key}) from {members}").format(
        distinct=sql.SQL("distinct " if dedupe else ""), member_key=member_key, members=members
    )
    adds = sql.SQL(
        "with d as ({desired}), h as ({held}) "
        "select d.member_key, d.row_hash, d.member_row from d left join h using (member_key) "
        "where h.member_key is null or h.row_hash <> d.row_hash or %(full)s"
    ).format(desired=desired, held=held)
    removes = sql.SQL(
        "with d as ({desired_keys}), h as ({held}) "
        "select h.member_key, h.row_hash, h.member_row from h "
        "where not exists (select 1 from d where d.member_key = h.member_key)"
    ).format(desired_keys=desired_keys, held=held)
    return _Queries(desired_count, adds, removes)


# The changes of a run, computed once into session temp tables: ``seq`` numbers the rows in
# the order they are sent, so a batch is a range of ``seq``, and the ledger is written from
# the table, inside the server, once the platform acknowledged the batch (no row travels back).
_ADDS = "sync_todo_adds"
_REMOVES = "sync_todo_removes"
FETCH_SIZE = 10_000

_RECORD_ADDS = f"""
insert into ops.sync_state
    (destination, audience_key, platform_audience_id, member_key, row_hash, member_row, synced_at)
select %s, %s, %s, member_key, row_hash, member_row, now() from pg_temp.{_ADDS}
where seq between %s and %s
on conflict (destination, audience_key, member_key) do update set
    platform_audience_id = excluded.platform_audience_id,
    row_hash = excluded.row_hash,
    member_row = excluded.member_row,
    synced_at = excluded.synced_at
"""

_RECORD_REMOVES = f"""
delete from ops.sync_state s using pg_temp.{_REMOVES} t
where s.destination = %s and s.audience_key = %s and s.member_key = t.member_key
  and t.seq between %s and %s
"""


def _materialise(conn: psycopg.Connection, queries: _Queries, params: dict[str, Any]) -> tuple[int, int, int]:
    """Compute the run's changes into the temp tables; (desired, to add, to remove). Commits."""
    with conn.transaction():
        # Fresh tables have no statistics and the member key is an expression no index serves:
        # without this, the planner may pick nested-loop anti-joins that rescan the members per
        # ledger row. Every row will be read: hash joins.
        conn.execute("set local enable_nestloop = off")
        counts = []
        for table, query in ((_ADDS, queries.adds), (_REMOVES, queries.removes)):
            conn.execute(sql.SQL("drop table if exists pg_temp.{}").format(sql.Identifier(table)))
            conn.execute(
                sql.SQL("create temp table {} as select row_number() over () as seq, q.* from ({}) q").format(
                    sql.Identifier(table), query
                ),
                params,
            )
            conn.execute(
                sql.SQL("alter table pg_temp.{} add primary key (seq)").format(sql.Identifier(table))
            )
            counts.append(conn.execute(f"select count(*) from pg_temp.{table}").fetchone()[0])
        desired = conn.execute(queries.desired_count, params).fetchone()[0]
    conn.commit()
    return desired, counts[0], counts[1]


def _drop_todo(conn: psycopg.Connection) -> None:
    conn.rollback()
    conn.execute(f"drop table if exists pg_temp.{_ADDS}")
    conn.execute(f"drop table if exists pg_temp.{_REMOVES}")
    conn.commit()


def _todo(conn: psycopg.Connection, table: str, *, encoded: bool = False) -> Iterator[tuple[int, str, Any]]:
    """(seq, member key, row) of a todo table in ``seq`` order, read a page at a time.

    ``encoded``: the row as its JSON text (``["…","…"]``), made by the server.
    """
    row = "array_to_json(member_row)::text" if encoded else "member_row"
    last = 0
    while True:
        page = conn.execute(
            f"select seq, member_key, {row} from pg_temp.{table} where seq > %s order by seq limit %s",
            (last, FETCH_SIZE),
        ).fetchall()
        if not page:
            return
        yield from page
        last = page[-1][0]


# --------------------------------------------------------------------------- the run


def sync_audience(
    conn: psycopg.Connection,
    destination: Destination | str,
    audience_key: str,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
    parallel_requests: int | None = None,
) -> SyncResult:
    """Bring the platform's audience to ``marts.audience_members`` for ``audience_key``.

    ``destination`` is a :class:`Destination` or its name (``"facebook"``, ``"linkedin"``).
    ``dry_run`` counts the changes and sends nothing. ``full_refresh`` re-sends
    every desired member (the platform may have drifted from the ledger): through
    a replace session when the destination has one (``replace_batch``: the
    platform then holds exactly the audience, strays included gone), else as
    additions, removals coming from the ledger. A platform's refusal does not raise:
    the result (and ``ops.sync_runs``) has outcome ``failed`` and the platform's
    message; batches acknowledged before the failure stay recorded.

    ``parallel_requests`` (default ``AUDIENCE_SYNC_PARALLEL_REQUESTS``, else 1):
    upload requests in flight at once for additions and removals. With 1, a
    crash re-sends at most the batch in flight; with N, at most N batches.
    """
    parallel = resolve_parallel_requests(parallel_requests)
    if isinstance(destination, str):
        destination = make_destination(destination)
    started = time.monotonic()
    result = SyncResult(run_id=uuid.uuid4().hex, audience_key=audience_key, destination=destination.name)
    ensure_sync_tables(conn)
    _record_start(conn, result)
    requests_before = destination.requests
    locked = _try_lock(conn, destination.name, audience_key)
    try:
        if not locked:
            result.outcome = "locked"
            result.message = "another sync of this audience to this destination is running; nothing done"
        else:
            try:
                _run(
                    conn,
                    destination,
                    audience_key,
                    result,
                    dry_run=dry_run,
                    full_refresh=full_refresh,
                    parallel_requests=parallel,
                )
            finally:
                with contextlib.suppress(psycopg.Error):
                    _drop_todo(conn)
            if result.outcome in ("synced", "unchanged") and result.platform_audience_id:
                _lookalikes(conn, destination, audience_key, result)
    except DestinationError as exc:
        conn.rollback()
        result.outcome = "failed"
        result.message = str(exc)
        if _audience_gone(exc):
            _forget_audience(conn, destination.name, audience_key)
            result.message += (
                "; the audience no longer exists on the platform: its ledger was cleared and the next run "
                "creates the audience again and re-sends every member"
            )
    except psycopg.errors.UndefinedTable:
        conn.rollback()
        result.outcome = "failed"
        result.message = (
            f"{MEMBERS_TABLE} does not exist: build the segments (dbt, the build_segments DAG) first"
        )
    except BaseException:
        result.outcome = "failed"
        result.message = "unexpected error in the sync engine (see the task log)"
        _finish_quietly(conn, result, started, destination.requests - requests_before, locked)
        raise
    _finish(conn, result, started, destination.requests - requests_before)
    if locked:
        _unlock(conn, destination.name, audience_key)
    level = logging.WARNING if result.outcome == "failed" else logging.INFO
    log.log(
        level,
        "sync %s -> %s: %s; desired %d, added %d, removed %d, invalid %d, unchanged %d, "
        "%d request(s), %.1fs%s",
        audience_key,
        destination.name,
        result.outcome,
        result.desired,
        result.added,
        result.removed,
        result.invalid,
        result.unchanged,
        result.requests,
        result.duration_s,
        f" ({result.message})" if result.message else "",
    )
    return result


def _run(
    conn: psycopg.Connection,
    destination: Destination,
    audience_key: str,
    result: SyncResult,
    *,
    dry_run: bool,
    full_refresh: bool,
    parallel_requests: int,
) -> None:
    queries = _queries(destination)
    params = {"destination": destination.name, "audience_key": audience_key, "full": full_refresh}
    desired, to_add, to_remove = _materialise(conn, queries, params)
    result.desired, result.to_add, result.to_remove = desired, to_add, to_remove
    result.unchanged = desired - to_add
    result.platform_audience_id = _held_audience_id(conn, destination.name, audience_key)
    too_small = desired < destination.min_audience_size
    log.info(
        "sync %s -> %s: desired %d, to add %d, to remove %d, unchanged %d%s",
        audience_key,
        destination.name,
        desired,
        to_add,
        to_remove,
        result.unchanged,
        " (below the destination's minimum: no additions)" if too_small else "",
    )
    if too_small:
        result.outcome = "skipped_too_small"
        result.message = (
            f"{desired} members, below {destination.name}'s minimum of {destination.min_audience_size}: "
            "no additions sent"
            + (f"; {to_remove} removal(s) still applied" if to_remove and not dry_run else "")
        )
        to_add = 0
    if dry_run:
        result.outcome = "dry_run"
        return
    if not to_add and not to_remove:
        result.outcome = result.outcome if too_small else "unchanged"
        return

    audience_id = result.platform_audience_id or destination.find_or_create_audience(
        audience_key, audience_description(audience_key)
    )
    result.platform_audience_id = audience_id
    if full_refresh and to_add and hasattr(destination, "replace_batch"):
        _run_replace(conn, destination, audience_key, audience_id, result)
        result.outcome = "synced" if result.outcome == "running" else result.outcome
        return
    encoded = hasattr(destination, "add_encoded")
    if encoded and to_add:
        _check_digests(conn, destination)
    if to_remove:

        def count_removed(ack: UploadResult) -> None:
            result.removed += ack.received

        remove = destination.remove_encoded if encoded else destination.remove  # type: ignore[attr-defined]
        _send_batches(
            conn,
            destination,
            _REMOVES,
            lambda rows: remove(audience_id, destination.schema, rows),
            lambda first, last: conn.execute(_RECORD_REMOVES, (destination.name, audience_key, first, last)),
            count_removed,
            parallel_requests,
            encoded=encoded,
        )
    if to_add:

        def count_added(ack: UploadResult) -> None:
            result.added += ack.received
            result.invalid += ack.invalid
            for sample, reason in ack.invalid_samples.items():
                if len(result.invalid_samples) < 50:
                    result.invalid_samples.setdefault(sample, reason)

        add = destination.add_encoded if encoded else destination.add  # type: ignore[attr-defined]
        _send_batches(
            conn,
            destination,
            _ADDS,
            lambda rows: add(audience_id, destination.schema, rows),
            lambda first, last: conn.execute(
                _RECORD_ADDS, (destination.name, audience_key, audience_id, first, last)
            ),
            count_added,
            parallel_requests,
            encoded=encoded,
        )
    if result.outcome == "running":
        result.outcome = "synced"


def _send_batches(
    conn: psycopg.Connection,
    destination: Destination,
    table: str,
    send: Callable[[list[Any]], UploadResult],
    write: Callable[[int, int], None],
    count: Callable[[UploadResult], None],
    parallel_requests: int,
    *,
    encoded: bool = False,
) -> None:
    """Send a todo table in request-sized batches; commit each batch's ledger rows once acknowledged.

    ``write(first, last)`` writes the ledger rows of the batch ``seq`` first..last
    (not committed); ``count(ack)`` adds the platform's answer to the run's counts.

    Uploads run on a worker thread. With one request in flight (the default),
    while the platform handles batch k this thread writes k's ledger rows in an
    open transaction and reads batch k+1; the transaction commits when the
    platform acknowledges k, and rolls back if it refuses: the ledger never
    holds an unacknowledged batch, batch k+1 leaves only after k is committed,
    and a crash re-sends at most the batch in flight.

    With ``parallel_requests`` N > 1, N requests are in flight; each batch's
    rows are written and committed once it is acknowledged, in sending order,
    and a crash re-sends at most N batches. The connection is only ever used
    by this thread.
    """
    rows = _todo(conn, table, encoded=encoded)
    if encoded:
        batches = destination.encoded_batches(rows, text=lambda item: item[2])  # type: ignore[attr-defined]
    else:
        batches = destination.batches(rows, values=lambda item: item[2])

    def payload(batch: list[Any]) -> list[Any]:
        return [item[2] if encoded else list(item[2]) for item in batch]

    with ThreadPoolExecutor(max_workers=parallel_requests, thread_name_prefix="sync-upload") as pool:
        if parallel_requests == 1:
            batch = next(batches, None)
            while batch is not None:
                done = pool.submit(send, payload(batch))
                try:
                    write(batch[0][0], batch[-1][0])  # overlaps the request
                    following = next(batches, None)  # so does reading the next batch
                    ack = done.result()
                except BaseException:
                    with contextlib.suppress(psycopg.Error):
                        conn.rollback()
                    raise
                conn.commit()
                count(ack)
                batch = following
            return
        in_flight: deque[tuple[int, int, Future[UploadResult]]] = deque()

        def record(first: int, last: int, ack: UploadResult) -> None:
            write(first, last)
            conn.commit()
            count(ack)

        try:
            for batch in batches:
                if len(in_flight) >= parallel_requests:
                    first, last, done = in_flight.popleft()
                    record(first, last, done.result())
                in_flight.append((batch[0][0], batch[-1][0], pool.submit(send, payload(batch))))
            while in_flight:
                first, last, done = in_flight.popleft()
                record(first, last, done.result())
        except Exception:
            # A refusal or a failure: the other requests in flight finish; what the platform
            # acknowledged is recorded (not sent again). A dying process (BaseException:
            # interrupt, exit) records nothing more, like a kill: those batches go out again.
            conn.rollback()
            for first, last, done in in_flight:
                with contextlib.suppress(Exception):
                    record(first, last, done.result())
            raise


def _check_digests(conn: psycopg.Connection, destination: Any) -> None:
    """Refuse the run when a value due to be a SHA-256 digest is not one (no raw PII leaves).

    One query over the additions, before any request: the rows are sent as the
    server wrote them, not re-checked value by value in Python.
    """
    positions = getattr(destination, "hashed_positions", ())
    if not positions:
        return
    # lengths one by one, then one scan for a character that is not lowercase hex over the
    # values joined (a bounded repetition such as [0-9a-f]{64} per value costs the regex engine ~10x)
    lengths = " and ".join(f"octet_length(member_row[{i + 1}]) in (0, 64)" for i in positions)
    joined = ", ".join(f"member_row[{i + 1}]" for i in positions)
    test = f"{lengths} and array_to_string(array[{joined}], '') !~ '[^0-9a-f]'"
    bad = conn.execute(f"select count(*) from pg_temp.{_ADDS} where not ({test})").fetchone()[0]
    conn.commit()
    if bad:
        raise DestinationError(
            f"{bad} member row(s) hold a value that is not a SHA-256 hex digest where one is due; "
            "refusing to send unhashed data (the audience mart must hold digests)",
            destination=destination.name,
        )


def _lookalikes(
    conn: psycopg.Connection, destination: Destination, audience_key: str, result: SyncResult
) -> None:
    """Lookalikes from the catalogue's settings; a refusal is reported, the sync itself stands."""
    try:
        result.lookalike_ids = ensure_lookalikes(
            conn, destination, audience_key, str(result.platform_audience_id)
        )
    except (DestinationError, ValueError) as exc:
        conn.rollback()
        result.message = (result.message + "; " if result.message else "") + f"lookalike not made: {exc}"
        log.warning("sync %s -> %s: lookalike not made: %s", audience_key, destination.name, exc)


def _run_replace(
    conn: psycopg.Connection,
    destination: Any,
    audience_key: str,
    audience_id: str,
    result: SyncResult,
) -> None:
    """Full refresh through one replace session: the platform ends up holding exactly the rows sent.

    Every desired member (the adds todo table, all of them on a full refresh)
    goes out in request-sized batches of one session (``batch_seq`` 1.., the
    last flagged), one request at a time. Only once the last batch is
    acknowledged is the ledger rewritten, in one transaction, to exactly the
    rows sent. A crash before that leaves the platform (which applies the
    replace on the last batch) and the ledger as they were; the next full
    refresh opens a new session.
    """
    session_id = destination.new_replace_session()
    estimated = result.to_add
    sent = 0
    batches = destination.batches(_todo(conn, _ADDS), values=lambda item: item[2])
    seq = 0
    pending = next(batches, None)
    while pending is not None:
        following = next(batches, None)
        seq += 1
        ack = destination.replace_batch(
            audience_id,
            destination.schema,
            [list(item[2]) for item in pending],
            session_id=session_id,
            batch_seq=seq,
            last=following is None,
            estimated_total=estimated,
        )
        sent += len(pending)
        result.added += ack.received
        result.invalid += ack.invalid
        for sample, reason in ack.invalid_samples.items():
            if len(result.invalid_samples) < 50:
                result.invalid_samples.setdefault(sample, reason)
        pending = following
    conn.rollback()
    with conn.transaction():
        held = conn.execute(
            "delete from ops.sync_state where destination = %s and audience_key = %s",
            (destination.name, audience_key),
        ).rowcount
        conn.execute(
            "insert into ops.sync_state "
            "(destination, audience_key, platform_audience_id, member_key, row_hash, member_row, synced_at) "
            f"select %s, %s, %s, member_key, row_hash, member_row, now() from pg_temp.{_ADDS}",
            (destination.name, audience_key, audience_id),
        )
    conn.commit()
    result.removed = result.to_remove
    log.info(
        "sync %s -> %s: replace session of %d batch(es) done: %d sent, ledger %d -> %d rows",
        audience_key,
        destination.name,
        seq,
        sent,
        held,
        sent,
    )


def _held_audience_id(conn: psycopg.Connection, destination: str, audience_key: str) -> str | None:
    """The platform audience the ledger describes (None before the first acknowledged batch)."""
    found = conn.execute(
        "select platform_audience_id from ops.sync_state where destination = %s and audience_key = %s limit 1",
        (destination, audience_key),
    ).fetchone()
    conn.commit()
    return found[0] if found else None


def _audience_gone(exc: DestinationError) -> bool:
    if exc.destination == "facebook":
        from audience.destinations.facebook import is_audience_gone  # noqa: PLC0415

        return is_audience_gone(exc)
    if exc.destination == "linkedin":
        from audience.destinations.linkedin import is_audience_gone as segment_gone  # noqa: PLC0415

        return segment_gone(exc)
    return False


def _forget_audience(conn: psycopg.Connection, destination: str, audience_key: str) -> None:
    deleted = conn.execute(
        "delete from ops.sync_state where destination = %s and audience_key = %s", (destination, audience_key)
    ).rowcount
    conn.commit()
    log.warning(
        "sync %s -> %s: platform audience gone; %d ledger rows cleared", audience_key, destination, deleted
    )


# --------------------------------------------------------------------------- bookkeeping


def _lock_keys(destination: str, audience_key: str) -> tuple[str, str]:
    return ("audience.sync", f"{destination}:{audience_key}")


def _try_lock(conn: psycopg.Connection, destination: str, audience_key: str) -> bool:
    got = conn.execute(
        "select pg_try_advisory_lock(hashtext(%s), hashtext(%s))", _lock_keys(destination, audience_key)
    ).fetchone()[0]
    conn.commit()
    return bool(got)


def _unlock(conn: psycopg.Connection, destination: str, audience_key: str) -> None:
    conn.execute(
        "select pg_advisory_unlock(hashtext(%s), hashtext(%s))", _lock_keys(destination, audience_key)
    )
    conn.commit()


def _record_start(conn: psycopg.Connection, result: SyncResult) -> None:
    conn.execute(
        "insert into ops.sync_runs (run_id, audience_key, destination, outcome, started_at) "
        "values (%s, %s, %s, 'running', %s)",
        (result.run_id, result.audience_key, result.destination, datetime.now(UTC)),
    )
    conn.commit()


def _finish_quietly(
    conn: psycopg.Connection, result: SyncResult, started: float, requests: int, locked: bool
) -> None:
    """Record a crashed run if the connection still works; never mask the original error."""
    try:
        conn.rollback()
        _finish(conn, result, started, requests)
        if locked:
            _unlock(conn, result.destination, result.audience_key)
    except Exception:  # noqa: BLE001 - the original exception is what matters
        log.warning("sync %s -> %s: could not record the failed run", result.audience_key, result.destination)


def _finish(conn: psycopg.Connection, result: SyncResult, started: float, requests: int) -> None:
    result.requests = requests
    result.duration_s = round(time.monotonic() - started, 3)
    conn.execute(
        """
        update ops.sync_runs set platform_audience_id = %s, desired = %s, added = %s, removed = %s,
            invalid = %s, unchanged = %s, requests = %s, duration_s = %s, outcome = %s, message = %s,
            invalid_samples = %s, finished_at = %s
        where run_id = %s
        """,
        (
            result.platform_audience_id,
            result.desired,
            result.added,
            result.removed,
            result.invalid,
            result.unchanged,
            result.requests,
            result.duration_s,
            result.outcome,
            result.message or None,
            json.dumps(result.invalid_samples) if result.invalid_samples else None,
            datetime.now(UTC),
            result.run_id,
        ),
    )
    conn.commit()


def last_runs(
    conn: psycopg.Connection, audience_key: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The latest runs (newest first), for reports and the CLI."""
    query = "select * from ops.sync_runs"
    args: Sequence[Any] = ()
    if audience_key:
        query += " where audience_key = %s"
        args = (audience_key,)
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(query + " order by started_at desc limit %s", (*args, limit)).fetchall()
    conn.commit()
    return rows
