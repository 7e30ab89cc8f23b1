"""Keep one audience on one destination equal to ``marts.audience_members``.

The ledger ``ops.sync_state`` is the truth of what a platform holds: one row
per member sent (its key, the hash of the row sent, the row itself — digests
and the extern id only — so a removal can send exactly what was added).

One run:

1. count the difference between the desired members and the ledger, in SQL:
   adds = desired − held, plus held members whose row changed (re-add);
   removes = held − desired. No difference: done, no API call at all.
2. removals first (a withdrawn consent leaves the platform as soon as
   possible), then additions; each streamed from a server-side cursor,
   grouped into request-sized batches by the destination;
3. each batch is written to the ledger (COPY + one upsert, or one delete)
   and committed only after the platform acknowledged it (``num_received`` matched): a crash between
   batches resumes without loss, and re-sending an acknowledged batch is
   harmless (adds and removes are idempotent on the platforms);
4. the run, with its counts, is recorded in ``ops.sync_runs``.

An audience smaller than the destination's minimum (Facebook: 100, LinkedIn: 300) gets no
additions (outcome ``skipped_too_small``); removals still go out, because
consent withdrawals must reach the platform whatever the audience's size.

Logs carry counts, ids and durations only.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from audience.destinations.base import Destination, DestinationError
from audience.destinations.lookalikes import ensure_lookalikes
from audience.warehouse import copy_rows

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


def audience_description(audience_key: str) -> str:
    """A neutral description: names must not suggest health, finances or other sensitive traits."""
    return f"Customer list kept in sync by the audience platform (segment {audience_key})."


# --------------------------------------------------------------------------- SQL


@dataclass(frozen=True)
class _Queries:
    counts: sql.Composed
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
    desired = sql.SQL(
        "select {distinct}{member_key} as member_key, {row_hash} as row_hash, array[{values}] as member_row "
        "from {table} m where m.audience_key = %(audience_key)s and {member_key} is not null{order}"
    ).format(
        distinct=sql.SQL("distinct on (1) " if dedupe else ""),
        member_key=member_key,
        row_hash=row_hash,
        values=values,
        table=sql.SQL(MEMBERS_TABLE),
        order=sql.SQL(" order by 1, 2" if dedupe else ""),
    )
    held = sql.SQL(
        "select member_key, row_hash, member_row from ops.sync_state "
        "where destination = %(destination)s and audience_key = %(audience_key)s"
    )
    counts = sql.SQL(
        "with d as ({desired}), h as ({held}) "
        "select (select count(*) from d) as desired, "
        "  (select count(*) from d left join h using (member_key) "
        "   where h.member_key is null or h.row_hash <> d.row_hash or %(full)s) as to_add, "
        "  (select count(*) from h where not exists (select 1 from d where d.member_key = h.member_key)) as to_remove"
    ).format(desired=desired, held=held)
    adds = sql.SQL(
        "with d as ({desired}), h as ({held}) "
        "select d.member_key, d.row_hash, d.member_row from d left join h using (member_key) "
        "where h.member_key is null or h.row_hash <> d.row_hash or %(full)s"
    ).format(desired=desired, held=held)
    removes = sql.SQL(
        "with d as ({desired}), h as ({held}) "
        "select h.member_key, h.row_hash, h.member_row from h "
        "where not exists (select 1 from d where d.member_key = h.member_key)"
    ).format(desired=desired, held=held)
    return _Queries(counts, adds, removes)


# Acknowledged additions go to the ledger through COPY into a session temp table
# (emptied at each commit) and one upsert: ~10 µs a row, where executemany costs ~100.
_BATCH_TABLE = "pg_temp.sync_batch"
_BATCH_DDL = (
    "create temp table if not exists sync_batch (member_key text, row_hash text, member_row text[]) "
    "on commit delete rows"
)
_UPSERT = f"""
insert into ops.sync_state
    (destination, audience_key, platform_audience_id, member_key, row_hash, member_row, synced_at)
select %s, %s, %s, member_key, row_hash, member_row, now() from {_BATCH_TABLE}
on conflict (destination, audience_key, member_key) do update set
    platform_audience_id = excluded.platform_audience_id,
    row_hash = excluded.row_hash,
    member_row = excluded.member_row,
    synced_at = excluded.synced_at
"""

# Batches of a replace session acknowledged so far (session-scoped: a crash drops them).
_REPLACE_TABLE = "pg_temp.sync_replace"
_REPLACE_DDL = (
    "create temp table if not exists sync_replace (member_key text, row_hash text, member_row text[])"
)

_DELETE = """
delete from ops.sync_state
where destination = %s and audience_key = %s and member_key = any(%s)
"""


# --------------------------------------------------------------------------- the run


def sync_audience(
    conn: psycopg.Connection,
    destination: Destination | str,
    audience_key: str,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
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
    """
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
            _run(conn, destination, audience_key, result, dry_run=dry_run, full_refresh=full_refresh)
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
) -> None:
    queries = _queries(destination)
    params = {"destination": destination.name, "audience_key": audience_key, "full": full_refresh}
    desired, to_add, to_remove = conn.execute(queries.counts, params).fetchone()
    conn.commit()
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
        _run_replace(conn, destination, audience_key, audience_id, queries, params, result)
        result.outcome = "synced" if result.outcome == "running" else result.outcome
        return
    if to_remove:
        with closing(_stream_batches(conn, destination, queries.removes, params, "sync_removes")) as batches:
            for batch in batches:
                rows = [item[2] for item in batch]
                ack = destination.remove(audience_id, destination.schema, rows)
                conn.execute(_DELETE, (destination.name, audience_key, [item[0] for item in batch]))
                conn.commit()
                result.removed += ack.received
    if to_add:
        with closing(_stream_batches(conn, destination, queries.adds, params, "sync_adds")) as batches:
            for batch in batches:
                rows = [item[2] for item in batch]
                ack = destination.add(audience_id, destination.schema, rows)
                _record_added(conn, destination.name, audience_key, audience_id, batch)
                result.added += ack.received
                result.invalid += ack.invalid
                for sample, reason in ack.invalid_samples.items():
                    if len(result.invalid_samples) < 50:
                        result.invalid_samples.setdefault(sample, reason)
    if result.outcome == "running":
        result.outcome = "synced"


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
    queries: _Queries,
    params: dict[str, Any],
    result: SyncResult,
) -> None:
    """Full refresh through one replace session: the platform ends up holding exactly the rows sent.

    Every desired member goes out in request-sized batches of one session
    (``batch_seq`` 1.., the last flagged). Acknowledged batches are staged in a
    session temp table; only once the last batch is acknowledged is the ledger
    rewritten, in one transaction, to exactly the staged rows. A crash before
    that leaves the platform (which applies the replace on the last batch) and
    the ledger as they were; the next full refresh opens a new session.
    """
    session_id = destination.new_replace_session()
    estimated = result.to_add
    conn.execute(_REPLACE_DDL)
    conn.execute(f"truncate {_REPLACE_TABLE}")
    conn.commit()
    sent = 0
    with closing(_stream_batches(conn, destination, queries.adds, params, "sync_replace")) as batches:
        seq = 0
        pending = next(batches, None)
        while pending is not None:
            following = next(batches, None)
            seq += 1
            rows = [item[2] for item in pending]
            ack = destination.replace_batch(
                audience_id,
                destination.schema,
                rows,
                session_id=session_id,
                batch_seq=seq,
                last=following is None,
                estimated_total=estimated,
            )
            with conn.transaction():
                copy_rows(
                    conn,
                    _REPLACE_TABLE,
                    ("member_key", "row_hash", "member_row"),
                    ((key, digest, _array_literal(row)) for key, digest, row in pending),
                )
            conn.commit()
            sent += len(pending)
            result.added += ack.received
            result.invalid += ack.invalid
            for sample, reason in ack.invalid_samples.items():
                if len(result.invalid_samples) < 50:
                    result.invalid_samples.setdefault(sample, reason)
            pending = following
    with conn.transaction():
        held = conn.execute(
            "delete from ops.sync_state where destination = %s and audience_key = %s",
            (destination.name, audience_key),
        ).rowcount
        conn.execute(
            "insert into ops.sync_state "
            "(destination, audience_key, platform_audience_id, member_key, row_hash, member_row, synced_at) "
            f"select %s, %s, %s, member_key, row_hash, member_row, now() from {_REPLACE_TABLE}",
            (destination.name, audience_key, audience_id),
        )
        conn.execute(f"truncate {_REPLACE_TABLE}")
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


def _record_added(
    conn: psycopg.Connection,
    destination: str,
    audience_key: str,
    audience_id: str,
    batch: list[tuple[str, str, list[str]]],
) -> None:
    """Write an acknowledged batch of additions to the ledger and commit."""
    with conn.transaction():
        conn.execute(_BATCH_DDL)
        copy_rows(
            conn,
            _BATCH_TABLE,
            ("member_key", "row_hash", "member_row"),
            ((key, digest, _array_literal(row)) for key, digest, row in batch),
        )
        conn.execute(_UPSERT, (destination, audience_key, audience_id))
    conn.commit()


def _array_literal(values: Sequence[str]) -> str:
    """A text[] literal ({"a","b"}); COPY escaping is copy_rows' job."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _stream_batches(
    conn: psycopg.Connection,
    destination: Destination,
    query: sql.Composed,
    params: dict[str, Any],
    name: str,
) -> Iterator[list[tuple[str, str, list[str]]]]:
    """Rows of ``query`` from a server-side cursor, grouped by the destination into request-sized batches.

    The cursor is ``WITH HOLD`` so it survives the commit after each batch;
    memory holds one batch at a time.
    """
    # A cursor makes the planner favour fast-start plans (cursor_tuple_fraction 0.1): nested-loop
    # anti-joins that rescan the members per ledger row (the member key is an expression no index
    # serves, and fresh tables have no statistics). Every row will be read: plan for all of them.
    conn.execute("set local cursor_tuple_fraction = 1.0")
    conn.execute("set local enable_nestloop = off")
    with conn.cursor(name=f"{name}_{uuid.uuid4().hex[:8]}", withhold=True) as cur:
        cur.itersize = FETCH_SIZE
        cur.execute(query, params)
        rows = ((key, row_hash, list(row)) for key, row_hash, row in cur)
        yield from destination.batches(rows, values=lambda item: item[2])


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
