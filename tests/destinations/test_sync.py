"""The sync engine's logic (diff, ledger, resume, gates) with an in-memory destination.

A real PostgreSQL holds marts.audience_members and the ledger; only the
platform is faked here. test_sync_sandbox.py runs the same engine against
the sandbox's Graph API over HTTP.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator, Sequence

import members
import psycopg
import pytest

from audience.destinations.base import DestinationError, UploadResult, chunk_by_size
from audience.destinations.facebook import IDENTITY_COLUMNS, MEMBER_COLUMNS
from audience.destinations.sync import ensure_sync_tables, sync_audience
from audience.identity import FACEBOOK_SCHEMA

AUDIENCE = members.AUDIENCE


class FakeDestination:
    """A platform in memory: members by identity, a call counter, optional failure at call n."""

    min_audience_size = 100
    schema = FACEBOOK_SCHEMA
    member_columns = MEMBER_COLUMNS
    identity_columns = IDENTITY_COLUMNS

    def __init__(
        self,
        *,
        name: str = "fake",
        max_rows: int = 100,
        fail_on_call: int | None = None,
        error: DestinationError | None = None,
    ) -> None:
        self.name = name
        self.max_rows = max_rows
        self.fail_on_call = fail_on_call
        self.error = error
        self.calls = 0
        self.audiences: dict[str, str] = {}
        self.members: dict[str, tuple[str, ...]] = {}
        self.times_added: collections.Counter[str] = collections.Counter()

    @property
    def requests(self) -> int:
        return self.calls

    def _call(self) -> None:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise self.error or DestinationError("platform down", destination=self.name, http_status=503)

    def find_or_create_audience(self, name: str, description: str) -> str:
        self._call()
        return self.audiences.setdefault(name, f"aud-{len(self.audiences) + 1}")

    def batches(self, items: Iterable, values: Callable[..., Sequence[str]]) -> Iterator[list]:
        return chunk_by_size(items, size=lambda item: 1, max_items=self.max_rows, max_bytes=10**9)

    def add(self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]) -> UploadResult:
        self._call()
        for row in rows:
            self.members[row[0]] = tuple(row)
            self.times_added[row[0]] += 1
        return UploadResult(sent=len(rows), received=len(rows), requests=1)

    def remove(self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]) -> UploadResult:
        self._call()
        for row in rows:
            self.members.pop(row[0], None)
        return UploadResult(sent=len(rows), received=len(rows), requests=1)


@pytest.fixture()
def conn(sync_db: psycopg.Connection) -> psycopg.Connection:
    members.reset(sync_db)
    return sync_db


def ledger(conn: psycopg.Connection, destination: str = "fake") -> dict[str, str]:
    rows = conn.execute(
        "select member_key, row_hash from ops.sync_state where destination = %s and audience_key = %s",
        (destination, AUDIENCE),
    ).fetchall()
    conn.commit()
    return dict(rows)


def test_first_sync_sends_everyone_and_records_the_run(conn):
    members.insert(conn, members.synthetic(250))
    dest = FakeDestination()
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.outcome, result.added, result.removed, result.unchanged) == ("synced", 250, 0, 0)
    assert set(dest.members.values()) == members.table_rows(conn)
    assert len(ledger(conn)) == 250
    assert result.requests == 1 + 3  # find-or-create, then 3 batches of <= 100
    run = conn.execute(
        "select outcome, added, requests, desired from ops.sync_runs where run_id = %s", (result.run_id,)
    ).fetchone()
    assert run == ("synced", 250, 4, 250)
    assert result.summary()["invalid_samples"] == 0


def test_a_rerun_without_change_makes_no_call(conn):
    members.insert(conn, members.synthetic(150))
    dest = FakeDestination()
    sync_audience(conn, dest, AUDIENCE)
    calls = dest.calls
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.outcome, result.requests, result.unchanged) == ("unchanged", 0, 150)
    assert result.platform_audience_id == "aud-1"  # from the ledger, not from the platform
    assert dest.calls == calls


def test_changes_removals_and_additions_converge_exactly(conn):
    members.insert(conn, members.synthetic(300))
    dest = FakeDestination()
    sync_audience(conn, dest, AUDIENCE)
    before = ledger(conn)
    # 3 people leave, 20 arrive, 2 change (new e-mail etc.: new hashes)
    members.delete(conn, ["p0000000", "p0000001", "p0000002"])
    members.insert(conn, members.synthetic(20, start=1_000))
    members.delete(conn, ["p0000010", "p0000011"])
    members.insert(conn, [r for r in members.synthetic(2, start=10, tag="v2")])
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.removed, result.added, result.unchanged) == (3, 22, 295)
    assert set(dest.members.values()) == members.table_rows(conn)
    after = ledger(conn)
    assert after["p0000010"] != before["p0000010"]
    assert after["p0000020"] == before["p0000020"]


def test_a_crash_between_batches_resumes_without_loss_or_duplicates(conn):
    members.insert(conn, members.synthetic(450))
    dest = FakeDestination(fail_on_call=4)  # find-or-create, batch 1, batch 2, then batch 3 fails
    result = sync_audience(conn, dest, AUDIENCE)
    assert result.outcome == "failed" and "platform down" in result.message
    assert result.added == 200
    assert len(ledger(conn)) == 200  # only acknowledged batches are recorded
    dest.fail_on_call = None
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.outcome, result.added) == ("synced", 250)
    assert set(dest.members.values()) == members.table_rows(conn)
    assert max(dest.times_added.values()) == 1  # nobody sent twice
    failed = conn.execute("select count(*) from ops.sync_runs where outcome = 'failed'").fetchone()[0]
    assert failed == 1


def test_below_the_minimum_nothing_is_added(conn):
    members.insert(conn, members.synthetic(99))
    dest = FakeDestination()
    result = sync_audience(conn, dest, AUDIENCE)
    assert result.outcome == "skipped_too_small"
    assert "minimum of 100" in result.message
    assert dest.calls == 0 and ledger(conn) == {}


def test_below_the_minimum_removals_still_go_out(conn):
    members.insert(conn, members.synthetic(150))
    dest = FakeDestination()
    sync_audience(conn, dest, AUDIENCE)
    members.delete(conn, [f"p{i:07d}" for i in range(100)])  # consent withdrawn by 100 people
    members.insert(conn, members.synthetic(5, start=5_000))
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.outcome, result.removed, result.added) == ("skipped_too_small", 100, 0)
    assert "removal(s) still applied" in result.message
    assert len(dest.members) == 50


def test_dry_run_counts_and_sends_nothing(conn):
    members.insert(conn, members.synthetic(120))
    dest = FakeDestination()
    result = sync_audience(conn, dest, AUDIENCE, dry_run=True)
    assert (result.outcome, result.to_add, result.to_remove, result.requests) == ("dry_run", 120, 0, 0)
    assert dest.calls == 0 and ledger(conn) == {}


def test_full_refresh_resends_everyone(conn):
    members.insert(conn, members.synthetic(120))
    dest = FakeDestination()
    sync_audience(conn, dest, AUDIENCE)
    result = sync_audience(conn, dest, AUDIENCE, full_refresh=True)
    assert (result.added, result.unchanged) == (120, 0)
    assert set(dest.times_added.values()) == {2}


def test_a_concurrent_run_is_refused(conn, sync_db):
    from audience import warehouse

    members.insert(conn, members.synthetic(120))
    dest = FakeDestination()
    info = conn.info
    with psycopg.connect(**warehouse.params().libpq(dbname=info.dbname), autocommit=True) as other:
        other.execute(
            "select pg_advisory_lock(hashtext('audience.sync'), hashtext('fake:consenting_adults'))"
        )
        result = sync_audience(conn, dest, AUDIENCE)
    assert result.outcome == "locked" and dest.calls == 0


def test_audience_deleted_on_the_platform_clears_the_ledger(conn):
    members.insert(conn, members.synthetic(150))
    dest = FakeDestination(name="facebook")
    sync_audience(conn, dest, AUDIENCE)
    members.insert(conn, members.synthetic(1, start=9_000))
    dest.fail_on_call = dest.calls + 1
    dest.error = DestinationError("audience deleted", destination="facebook", code=100, subcode=1487366)
    result = sync_audience(conn, dest, AUDIENCE)
    assert result.outcome == "failed" and "ledger was cleared" in result.message
    assert ledger(conn, "facebook") == {}


def test_members_without_any_identity_are_left_out(conn):
    rows = members.synthetic(120)
    members.insert(conn, rows)
    conn.execute(
        "insert into marts.audience_members select audience_key, 'nobody', '', '', '', fn_sha256, ln_sha256, "
        "ct_sha256, zip_sha256, country_sha256, doby_sha256, gen_sha256 from marts.audience_members limit 1"
    )
    conn.commit()
    dest = FakeDestination()
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.desired, result.added) == (120, 120)


def test_ensure_sync_tables_is_idempotent(conn):
    ensure_sync_tables(conn)
    ensure_sync_tables(conn)
    tables = conn.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' "
        "and table_name in ('sync_state', 'sync_runs')"
    ).fetchone()[0]
    assert tables == 2


def test_awkward_extern_ids_round_trip_through_the_ledger(conn):
    awkward = ['a"b\\c,{d}\te é', "NULL", "", "x y"]
    rows = members.synthetic(len(awkward) + 100)
    for row, extern in zip(rows, awkward, strict=False):
        row[0] = extern or "placeholder"
    members.insert(conn, rows)
    dest = FakeDestination()
    sync_audience(conn, dest, AUDIENCE)
    held = conn.execute(
        "select member_row from ops.sync_state where member_key = %s", (awkward[0],)
    ).fetchone()[0]
    conn.commit()
    assert held == rows[0]
    members.delete(conn, [awkward[0]])
    result = sync_audience(conn, dest, AUDIENCE)
    assert result.removed == 1
    assert set(dest.members.values()) == members.table_rows(conn)


def test_a_missing_members_table_is_a_clear_failure(conn):
    conn.execute("drop table marts.audience_members")
    conn.commit()
    dest = FakeDestination()
    result = sync_audience(conn, dest, AUDIENCE)
    assert result.outcome == "failed" and "build the segments" in result.message
    assert dest.calls == 0
