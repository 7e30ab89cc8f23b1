"""Full refresh through usersreplace sessions, kill trials and lookalikes, against the real sandbox and PostgreSQL."""

from __future__ import annotations

import random

import members
import pytest
import requests
from test_sync_sandbox import destination, sandbox_members, set_faults

from audience.destinations.facebook import FacebookDestination
from audience.destinations.sync import sync_audience
from audience.identity import FACEBOOK_SCHEMA
from audience.settings import SettingError

AUDIENCE = members.AUDIENCE


@pytest.fixture()
def conn(sync_db, graph_sandbox):
    requests.post(f"{graph_sandbox.url}/_sandbox/reset", timeout=10).raise_for_status()
    set_faults(graph_sandbox.url, 0.0)
    members.reset(sync_db)
    sync_db.execute("drop table if exists ops.sync_lookalikes")
    sync_db.execute("drop table if exists marts.audiences")
    sync_db.commit()
    yield sync_db


def received(url: str, audience_id: str, op: str) -> dict[str, int]:
    answer = requests.get(f"{url}/_sandbox/facebook/audiences/{audience_id}/received?op={op}", timeout=30)
    answer.raise_for_status()
    return answer.json()["received"]


def ledger_keys(conn) -> set[str]:
    rows = conn.execute(
        "select member_key from ops.sync_state where destination = 'facebook' and audience_key = %s",
        (AUDIENCE,),
    ).fetchall()
    conn.commit()
    return {r[0] for r in rows}


def stray(url: str, audience_id: str, dest: FacebookDestination, rows: list[list[str]]) -> None:
    """Members put on the platform behind the ledger's back (e.g. by hand in Ads Manager)."""
    dest.add(audience_id, FACEBOOK_SCHEMA, rows)


def light(n: int, start: int = 0, *, tag: str = "") -> list[list[str]]:
    """Member rows with an extern id and an email hash only (smaller requests: faster trials)."""
    return [[row[0], row[1]] + [""] * (len(row) - 2) for row in members.synthetic(n, start, tag=tag)]


class Killed(Exception):
    """Stands for the process dying."""


class KillAfter(FacebookDestination):
    """Dies right after the platform acknowledged the ``after``-th members call (before the ledger)."""

    def __init__(self, *args, after: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.after = after
        self.calls = 0

    def _tick(self, result):
        self.calls += 1
        if self.calls == self.after:
            raise Killed(f"killed after batch {self.calls}")
        return result

    def add(self, *args, **kwargs):
        return self._tick(super().add(*args, **kwargs))

    def remove(self, *args, **kwargs):
        return self._tick(super().remove(*args, **kwargs))

    def add_encoded(self, *args, **kwargs):
        return self._tick(super().add_encoded(*args, **kwargs))

    def remove_encoded(self, *args, **kwargs):
        return self._tick(super().remove_encoded(*args, **kwargs))

    def replace_batch(self, *args, **kwargs):
        return self._tick(super().replace_batch(*args, **kwargs))


def killer(url: str, after: int, **overrides) -> KillAfter:
    base = destination(url, **overrides)
    return KillAfter(base.settings, retry=base.retry, after=after)


def test_full_refresh_leaves_exactly_the_audience_strays_included(conn, graph_sandbox):
    url = graph_sandbox.url
    members.insert(conn, members.synthetic(5_000))
    dest = destination(url, max_rows_per_request=2_000)
    audience_id = sync_audience(conn, dest, AUDIENCE).platform_audience_id
    stray(url, audience_id, dest, members.synthetic(300, start=900_000))
    members.delete(conn, [f"p{i:07d}" for i in range(200)])
    assert len(sandbox_members(url, audience_id)) == 5_300

    before = dest.requests
    result = sync_audience(conn, dest, AUDIENCE, full_refresh=True)
    assert (result.outcome, result.added, result.removed) == ("synced", 4_800, 200), result.message
    assert dest.requests - before == 3  # 4,800 rows in one session of 3 batches, no list, no create
    assert sandbox_members(url, audience_id) == members.table_rows(conn)  # strays gone too
    assert ledger_keys(conn) == {f"p{i:07d}" for i in range(200, 5_000)}
    again = sync_audience(conn, dest, AUDIENCE)
    assert (again.outcome, again.requests) == ("unchanged", 0)


def test_a_crash_inside_a_replace_session_changes_nothing_and_the_rerun_restarts_it(conn, graph_sandbox):
    url = graph_sandbox.url
    members.insert(conn, members.synthetic(5_000))
    audience_id = sync_audience(conn, destination(url), AUDIENCE).platform_audience_id
    stray(url, audience_id, destination(url), members.synthetic(50, start=900_000))
    members.delete(conn, [f"p{i:07d}" for i in range(100)])
    held_before = ledger_keys(conn)
    on_platform = sandbox_members(url, audience_id)

    with pytest.raises(Killed):
        sync_audience(conn, killer(url, after=2, max_rows_per_request=1_000), AUDIENCE, full_refresh=True)
    assert sandbox_members(url, audience_id) == on_platform  # the replace applies on the last batch only
    assert ledger_keys(conn) == held_before

    result = sync_audience(conn, destination(url, max_rows_per_request=1_000), AUDIENCE, full_refresh=True)
    assert result.outcome == "synced", result.message
    assert sandbox_members(url, audience_id) == members.table_rows(conn)
    assert ledger_keys(conn) == {f"p{i:07d}" for i in range(100, 5_000)}


def test_twenty_kills_converge_with_nothing_lost_and_little_resent(conn, graph_sandbox):
    """Kill after a random acknowledged batch, re-run, 20 times: exact equality, resends ≤ one batch.

    Trial 0 kills the first sync of 30,000 members (15 batches of 2,000); the
    19 others kill a churn (500 leave, 500 join, 200 change keys: 4 batches of
    400) of the 30,000-member audience.
    """
    url = graph_sandbox.url
    rng = random.Random(20)
    members.insert(conn, light(30_000))
    present = {f"p{i:07d}" for i in range(30_000)}
    next_id = 30_000
    audience_id = None
    adds_before: dict[str, int] = {}
    removes_before: dict[str, int] = {}
    for trial in range(20):
        batch, planned = (2_000, 15) if trial == 0 else (400, 4)
        if trial:
            leaving = rng.sample(sorted(present), 500)
            changing = rng.sample(sorted(present - set(leaving)), 200)
            members.delete(conn, leaving + changing)
            changed = [[pid, *light(1, start=i, tag=f"t{trial}")[0][1:]] for i, pid in enumerate(changing)]
            members.insert(conn, light(500, start=next_id) + changed)
            present = (present - set(leaving)) | {f"p{i:07d}" for i in range(next_id, next_id + 500)}
            next_id += 500
        with pytest.raises(Killed):
            sync_audience(
                conn, killer(url, after=rng.randint(1, planned), max_rows_per_request=batch), AUDIENCE
            )
        result = sync_audience(conn, destination(url, max_rows_per_request=batch), AUDIENCE)
        assert result.outcome == "synced", (trial, result.message)
        audience_id = result.platform_audience_id
        assert sandbox_members(url, audience_id) == members.table_rows(conn), trial  # nothing lost
        assert ledger_keys(conn) == present, trial
        adds, removes = received(url, audience_id, "add"), received(url, audience_id, "remove")
        twice = sum(1 for key, n in adds.items() if n - adds_before.get(key, 0) > 1)
        twice += sum(1 for key, n in removes.items() if n - removes_before.get(key, 0) > 1)
        assert twice <= batch, (trial, twice)  # only the batch in flight when killed went twice
        assert sum(adds.values()) > sum(adds_before.values()), trial
        adds_before, removes_before = adds, removes


class HardKill(BaseException):
    """Stands for the process dying with requests in flight: nothing more is recorded."""


class HardKillAfter(KillAfter):
    def _tick(self, result):
        self.calls += 1
        if self.calls == self.after:
            raise HardKill(f"killed after request {self.calls}")
        return result


@pytest.mark.parametrize("parallel", [1, 3])
def test_kills_with_requests_in_parallel_resend_at_most_the_batches_in_flight(conn, graph_sandbox, parallel):
    """N requests in flight: a kill re-sends at most N batches; the re-run converges exactly."""
    url = graph_sandbox.url
    rng = random.Random(parallel)
    batch = 1_000
    members.insert(conn, light(12_000))
    adds_before: dict[str, int] = {}
    for trial in range(4):
        if trial:
            members.insert(conn, light(3_000, start=12_000 + 3_000 * (trial - 1)))
        planned = 12 if trial == 0 else 3
        base = destination(url, max_rows_per_request=batch)
        dying = HardKillAfter(base.settings, retry=base.retry, after=rng.randint(1, planned))
        with pytest.raises(HardKill):
            sync_audience(conn, dying, AUDIENCE, parallel_requests=parallel)
        result = sync_audience(
            conn, destination(url, max_rows_per_request=batch), AUDIENCE, parallel_requests=parallel
        )
        assert result.outcome == "synced", (trial, result.message)
        assert sandbox_members(url, result.platform_audience_id) == members.table_rows(conn), trial
        adds = received(url, result.platform_audience_id, "add")
        twice = sum(1 for key, n in adds.items() if n - adds_before.get(key, 0) > 1)
        assert twice <= parallel * batch, (trial, twice)
        adds_before = adds


def test_parallel_requests_setting_is_checked(conn, graph_sandbox, monkeypatch):
    monkeypatch.setenv("AUDIENCE_SYNC_PARALLEL_REQUESTS", "0")
    with pytest.raises(SettingError, match="AUDIENCE_SYNC_PARALLEL_REQUESTS"):
        sync_audience(conn, destination(graph_sandbox.url), AUDIENCE)
    with pytest.raises(SettingError, match="parallel_requests=9"):
        sync_audience(conn, destination(graph_sandbox.url), AUDIENCE, parallel_requests=9)


def catalogue(conn, countries: list[str], ratio: float, enabled: bool = True) -> None:
    conn.execute(
        "create table if not exists marts.audiences (audience_key text primary key, lookalike_enabled boolean, "
        "lookalike_countries text[], lookalike_ratio numeric, lookalike_starting_ratio numeric)"
    )
    conn.execute(
        "insert into marts.audiences values (%s, %s, %s, %s, null) on conflict (audience_key) do update set "
        "lookalike_enabled = excluded.lookalike_enabled, lookalike_countries = excluded.lookalike_countries, "
        "lookalike_ratio = excluded.lookalike_ratio",
        (AUDIENCE, enabled, countries, ratio),
    )
    conn.commit()


def lookalikes_on_platform(url: str) -> dict[str, dict]:
    listed = requests.get(f"{url}/_sandbox/facebook/audiences", timeout=10).json()["audiences"]
    found = {}
    for audience in listed:
        if audience["subtype"] == "LOOKALIKE":
            graph = requests.get(
                f"{url}/v26.0/{audience['id']}",
                params={"fields": "name,lookalike_spec", "access_token": "sandbox-token"},
                timeout=10,
            ).json()
            found[audience["id"]] = graph
    return found


def test_lookalikes_follow_the_catalogue_once_per_source_audience(conn, graph_sandbox):
    url = graph_sandbox.url
    members.insert(conn, members.synthetic(300))
    catalogue(conn, ["FR", "DE"], 0.05)
    first = sync_audience(conn, destination(url), AUDIENCE)
    assert first.outcome == "synced" and len(first.lookalike_ids) == 2, first.message
    made = lookalikes_on_platform(url)
    assert set(made) == set(first.lookalike_ids)
    specs = sorted((m["lookalike_spec"]["country"], m["lookalike_spec"]["ratio"]) for m in made.values())
    assert specs == [("DE", 0.05), ("FR", 0.05)]
    assert {m["name"] for m in made.values()} == {
        f"{AUDIENCE} lookalike 5% FR",
        f"{AUDIENCE} lookalike 5% DE",
    }

    again = sync_audience(conn, destination(url), AUDIENCE)  # recorded: no call at all
    assert (again.outcome, again.requests, sorted(again.lookalike_ids)) == (
        "unchanged",
        0,
        sorted(first.lookalike_ids),
    )
    conn.execute("delete from ops.sync_lookalikes")
    conn.commit()
    found = sync_audience(conn, destination(url), AUDIENCE)  # record lost: found by name, not made twice
    assert sorted(found.lookalike_ids) == sorted(first.lookalike_ids)
    assert len(lookalikes_on_platform(url)) == 2


def test_bad_lookalike_settings_are_reported_and_the_sync_stands(conn, graph_sandbox):
    url = graph_sandbox.url
    members.insert(conn, members.synthetic(300))
    catalogue(conn, ["FR"], 0.5)
    result = sync_audience(conn, destination(url), AUDIENCE)
    assert result.outcome == "synced" and result.lookalike_ids == []
    assert "lookalike not made" in result.message and "0.5" in result.message
    assert lookalikes_on_platform(url) == {}
    catalogue(conn, ["FR"], 0.05, enabled=False)
    assert sync_audience(conn, destination(url), AUDIENCE).lookalike_ids == []
