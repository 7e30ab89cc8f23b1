"""The sync engine + FacebookDestination against the real sandbox over HTTP and a real PostgreSQL.

The audience rows are the sandbox world's consenting contacts, hashed by
audience.identity; after every sync the sandbox's stored members must equal
marts.audience_members exactly.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time

import members
import pytest
import requests
from facebook_business.adobjects.customaudience import CustomAudience

from audience.destinations.base import DestinationError
from audience.destinations.facebook import FacebookDestination, FacebookSettings, check_users_answer
from audience.destinations.sync import sync_audience
from audience.identity import FACEBOOK_SCHEMA
from audience.retry import RetryPolicy

AUDIENCE = members.AUDIENCE


@pytest.fixture(scope="module")
def world_rows(graph_world, sync_db) -> list[list[str]]:
    rows = members.from_world(graph_world, sync_db)
    assert len(rows) > 2_000
    return rows


@pytest.fixture()
def conn(sync_db, graph_sandbox):
    requests.post(f"{graph_sandbox.url}/_sandbox/reset", timeout=10).raise_for_status()
    set_faults(graph_sandbox.url, 0.0)
    members.reset(sync_db)
    yield sync_db
    set_faults(graph_sandbox.url, 0.0)


def set_faults(url: str, rate: float, seed: int = 1) -> None:
    """Every kind of failure the sandbox injects: 429, 500, 503 pages, Graph throttling, 504 after a wait."""
    body = {"rate": rate, "seed": seed, "timeout_seconds": 0.05, "targets": ["graph"]}
    requests.post(f"{url}/_sandbox/faults", json=body, timeout=10).raise_for_status()


def destination(url: str, **overrides) -> FacebookDestination:
    settings = dataclasses.replace(FacebookSettings.sandbox(url), **overrides)
    return FacebookDestination(
        settings, retry=RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.1, max_retry_after=0.1)
    )


def sandbox_members(url: str, audience_id: str) -> set[tuple[str, ...]]:
    answer = requests.get(f"{url}/_sandbox/facebook/audiences/{audience_id}/members", timeout=30)
    answer.raise_for_status()
    body = answer.json()
    if isinstance(body, dict) and "schema" in body:
        # a key the batch left out (empty in all its rows) reads as ""
        index = [body["schema"].index(key) if key in body["schema"] else None for key in FACEBOOK_SCHEMA]
        return {tuple("" if i is None else row[i] for i in index) for row in body["data"]}
    items = body["data"] if isinstance(body, dict) else body
    return {tuple(item.get(key, "") for key in FACEBOOK_SCHEMA) for item in items}


def graph_calls(url: str) -> dict[str, int]:
    """Graph API requests the sandbox has served, per endpoint (its own /_sandbox calls left out)."""
    stats = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
    return {key: n for key, n in stats["requests"].items() if "/_sandbox" not in key}


def test_first_sync_equals_the_table_and_a_rerun_makes_no_call(conn, graph_sandbox, world_rows):
    members.insert(conn, world_rows)
    dest = destination(graph_sandbox.url)
    started = time.monotonic()
    first = sync_audience(conn, dest, AUDIENCE)
    elapsed = time.monotonic() - started
    assert first.outcome == "synced", first.message
    assert first.added == len(world_rows) and first.invalid == 0
    assert sandbox_members(graph_sandbox.url, first.platform_audience_id) == members.table_rows(conn)
    # list + create + one upload (~2,500 full rows fit one 4 MB request)
    assert first.requests == 3
    print(f"first sync of {len(world_rows)} members: {elapsed:.2f}s, {first.requests} requests")

    before = graph_calls(graph_sandbox.url)
    again = sync_audience(conn, destination(graph_sandbox.url), AUDIENCE)
    assert (again.outcome, again.requests, again.added, again.removed) == ("unchanged", 0, 0, 0)
    assert graph_calls(graph_sandbox.url) == before


def test_churn_converges_exactly(conn, graph_sandbox, world_rows):
    members.insert(conn, world_rows)
    dest = destination(graph_sandbox.url)
    audience_id = sync_audience(conn, dest, AUDIENCE).platform_audience_id
    rng = random.Random(5)
    leaving = rng.sample([r[0] for r in world_rows], k=len(world_rows) // 100)
    changing = rng.sample([r[0] for r in world_rows if r[0] not in leaving], k=10)
    members.delete(conn, leaving + changing)
    changed = [[pid, *members.synthetic(1, start=i, tag="moved")[0][1:]] for i, pid in enumerate(changing)]
    members.insert(conn, members.synthetic(40, start=500_000) + changed)
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.removed, result.added) == (len(leaving), 50)
    assert result.platform_audience_id == audience_id
    assert sandbox_members(graph_sandbox.url, audience_id) == members.table_rows(conn)


def test_removing_more_than_a_thousand_members_goes_through(conn, graph_sandbox, world_rows):
    members.insert(conn, world_rows)
    dest = destination(graph_sandbox.url)
    audience_id = sync_audience(conn, dest, AUDIENCE).platform_audience_id
    gone = [r[0] for r in world_rows[:1_200]]
    members.delete(conn, gone)
    result = sync_audience(conn, dest, AUDIENCE)
    assert (result.outcome, result.removed, result.requests) == ("synced", 1_200, 1)
    assert sandbox_members(graph_sandbox.url, audience_id) == members.table_rows(conn)


def test_the_sdk_delete_hits_414_on_the_sandbox_and_our_check_refuses_it(conn, graph_sandbox, world_rows):
    members.insert(conn, world_rows)
    dest = destination(graph_sandbox.url)
    audience_id = sync_audience(conn, dest, AUDIENCE).platform_audience_id
    response = CustomAudience(audience_id, api=dest.api).remove_users(
        list(FACEBOOK_SCHEMA), world_rows[:200], is_raw=True, pre_hashed=True
    )
    assert response.status() == 414  # the SDK raised nothing: it took the HTML page for success
    with pytest.raises(DestinationError, match="414"):
        check_users_answer(response, 200)
    assert sandbox_members(graph_sandbox.url, audience_id) == members.table_rows(conn)  # nothing removed


def test_batches_follow_the_row_cap(conn, graph_sandbox, world_rows):
    members.insert(conn, world_rows)
    result = sync_audience(conn, destination(graph_sandbox.url, max_rows_per_request=500), AUDIENCE)
    assert result.requests == 2 + math.ceil(len(world_rows) / 500)
    assert sandbox_members(graph_sandbox.url, result.platform_audience_id) == members.table_rows(conn)


def test_twenty_percent_faults_still_converge_exactly(conn, graph_sandbox, world_rows):
    set_faults(graph_sandbox.url, 0.2, seed=3)
    members.insert(conn, world_rows)
    dest = destination(graph_sandbox.url, max_rows_per_request=100)
    first = sync_audience(conn, dest, AUDIENCE)
    assert first.outcome == "synced", first.message
    assert first.requests > 2 + math.ceil(len(world_rows) / 100)  # some calls were refused and retried
    members.delete(conn, [r[0] for r in world_rows[:300]])
    members.insert(conn, members.synthetic(300, start=700_000))
    second = sync_audience(conn, dest, AUDIENCE)
    assert (second.outcome, second.removed, second.added) == ("synced", 300, 300), second.message
    injected = requests.get(f"{graph_sandbox.url}/_sandbox/stats", timeout=10).json()["faults_injected"]
    set_faults(graph_sandbox.url, 0.0)
    assert sum(injected.values()) >= 5 and len(injected) >= 3  # several kinds of failure were met
    assert sandbox_members(graph_sandbox.url, first.platform_audience_id) == members.table_rows(conn)
    print(f"faults met and survived: {injected}; requests {first.requests} + {second.requests}")


def test_a_larger_audience_in_payload_capped_requests(conn, graph_sandbox):
    rows = members.synthetic(20_000)
    members.insert(conn, rows)
    dest = destination(graph_sandbox.url)
    started = time.monotonic()
    result = sync_audience(conn, dest, AUDIENCE)
    elapsed = time.monotonic() - started
    assert result.outcome == "synced" and result.added == 20_000
    # 20,000 full rows are ~14 MB encoded: the 4 MB cap makes 4 uploads (+ list and create)
    assert result.requests == 2 + 4
    assert sandbox_members(graph_sandbox.url, result.platform_audience_id) == members.table_rows(conn)
    print(f"20,000 members: {elapsed:.2f}s, {result.requests} requests")


def test_a_raw_value_in_a_digest_column_stops_the_run_before_any_upload(conn, graph_sandbox):
    rows = members.synthetic(300)
    rows[7][2] = "someone@example.org"  # email_sha256 holding an address, not its digest
    members.insert(conn, rows)
    result = sync_audience(conn, destination(graph_sandbox.url), AUDIENCE)
    assert result.outcome == "failed"
    assert "1 member row(s) hold a value that is not a SHA-256 hex digest" in result.message
    assert "someone" not in result.message
    assert not any(key.endswith("/users") for key in graph_calls(graph_sandbox.url))
