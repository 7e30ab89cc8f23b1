"""The sync engine + LinkedInDestination against the sandbox's DMP segments over HTTP and a real PostgreSQL.

After every sync the sandbox segment's SHA256_EMAIL ids must equal the
distinct e-mail hashes of the audience in marts.audience_members exactly.
"""

from __future__ import annotations

import dataclasses
import math
import random

import members
import pytest
import requests

from audience.destinations.linkedin import LinkedInDestination, LinkedInSettings
from audience.destinations.sync import sync_audience
from audience.retry import RetryPolicy

AUDIENCE = members.AUDIENCE


class Crash(BaseException):
    """The worker dies (SIGKILL-like): not an error the engine may handle."""


@pytest.fixture(scope="module")
def world_rows(graph_world, sync_db) -> list[list[str]]:
    rows = members.from_world(graph_world, sync_db)
    assert len(rows) > 2_000
    return rows


def set_faults(url: str, rate: float, seed: int = 1) -> None:
    body = {"rate": rate, "seed": seed, "timeout_seconds": 0.05, "targets": ["linkedin_ads"]}
    requests.post(f"{url}/_sandbox/faults", json=body, timeout=10).raise_for_status()


@pytest.fixture()
def conn(sync_db, graph_sandbox):
    requests.post(f"{graph_sandbox.url}/_sandbox/reset", timeout=10).raise_for_status()
    set_faults(graph_sandbox.url, 0.0)
    members.reset(sync_db)
    yield sync_db
    set_faults(graph_sandbox.url, 0.0)
    requests.post(f"{graph_sandbox.url}/_sandbox/config", json={"linkedin_calls_per_minute": 600}, timeout=10)


def destination(
    url: str, cls: type[LinkedInDestination] = LinkedInDestination, **overrides
) -> LinkedInDestination:
    settings = dataclasses.replace(LinkedInSettings.sandbox(url), **overrides)
    return cls(settings, retry=RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.1, max_retry_after=0.1))


def segment_emails(url: str, segment_id: str) -> set[str]:
    answer = requests.get(f"{url}/_sandbox/linkedin/segments/{segment_id}/members", timeout=30)
    answer.raise_for_status()
    found = answer.json()["members"]
    assert all(m["idType"] == "SHA256_EMAIL" for m in found)
    return {m["idValue"] for m in found}


def segment_received(url: str, segment_id: str) -> dict[str, int]:
    segments = requests.get(f"{url}/_sandbox/linkedin/segments", timeout=10).json()["segments"]
    return next(s["received"] for s in segments if s["id"] == segment_id)


def desired_emails(conn) -> set[str]:
    return {row[1] for row in members.table_rows(conn) if row[1]}


def linkedin_calls(url: str) -> int:
    stats = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
    return sum(n for key, n in stats["requests"].items() if "/rest/dmpSegments" in key)


def test_first_sync_equals_the_audience_and_a_rerun_makes_no_call(conn, graph_sandbox, world_rows):
    members.insert(conn, world_rows)
    expected = desired_emails(conn)
    assert len(expected) < len(world_rows)  # phone-only people are not LinkedIn members
    first = sync_audience(conn, destination(graph_sandbox.url), AUDIENCE)
    assert first.outcome == "synced", first.message
    assert (first.added, first.invalid, first.desired) == (len(expected), 0, len(expected))
    assert segment_emails(graph_sandbox.url, first.platform_audience_id) == expected
    assert first.requests == 2 + 1  # list, create, one batch of <= 5,000

    before = linkedin_calls(graph_sandbox.url)
    again = sync_audience(conn, destination(graph_sandbox.url), AUDIENCE)
    assert (again.outcome, again.requests, again.added, again.removed) == ("unchanged", 0, 0, 0)
    assert linkedin_calls(graph_sandbox.url) == before


def test_changes_and_consent_withdrawals_converge_exactly(conn, graph_sandbox, world_rows):
    members.insert(conn, world_rows)
    dest = destination(graph_sandbox.url, max_elements=400)
    segment = sync_audience(conn, dest, AUDIENCE).platform_audience_id
    with_email = [r for r in world_rows if r[1]]
    rng = random.Random(7)
    withdrawn = rng.sample([r[0] for r in with_email], k=30)  # consent withdrawn: out of the mart
    changing = rng.sample([r[0] for r in with_email if r[0] not in withdrawn], k=10)
    members.delete(conn, withdrawn + changing)
    moved = [[pid, *members.synthetic(1, start=i, tag="new-mail")[0][1:]] for i, pid in enumerate(changing)]
    members.insert(conn, members.synthetic(25, start=800_000) + moved)
    result = sync_audience(conn, dest, AUDIENCE)
    assert result.outcome == "synced", result.message
    assert (result.removed, result.added) == (40, 35)
    assert result.platform_audience_id == segment
    emails = segment_emails(graph_sandbox.url, segment)
    assert emails == desired_emails(conn)
    gone = {r[1] for r in with_email if r[0] in withdrawn}
    assert not emails & gone


def test_a_shared_email_is_one_member_removed_only_when_nobody_has_it(conn, graph_sandbox):
    rows = members.synthetic(320)
    twin = ["p9999999", *rows[0][1:]]  # another person with the same e-mail (and other hashes)
    members.insert(conn, [*rows, twin])
    dest = destination(graph_sandbox.url)
    first = sync_audience(conn, dest, AUDIENCE)
    assert (first.desired, first.added) == (320, 320)
    members.delete(conn, ["p0000000"])
    second = sync_audience(conn, dest, AUDIENCE)
    assert (second.outcome, second.removed, second.added) == ("unchanged", 0, 0)
    members.delete(conn, ["p9999999"])
    third = sync_audience(conn, dest, AUDIENCE)
    assert (third.removed, third.added) == (1, 0)
    assert segment_emails(graph_sandbox.url, first.platform_audience_id) == desired_emails(conn)


def test_an_audience_below_300_gets_no_additions(conn, graph_sandbox):
    members.insert(conn, members.synthetic(299))
    result = sync_audience(conn, destination(graph_sandbox.url), AUDIENCE)
    assert (result.outcome, result.added, result.requests) == ("skipped_too_small", 0, 0)
    assert "minimum of 300" in result.message


def test_twenty_percent_faults_still_converge_exactly(conn, graph_sandbox, world_rows):
    set_faults(graph_sandbox.url, 0.2, seed=4)
    members.insert(conn, world_rows)
    dest = destination(graph_sandbox.url, max_elements=100)
    first = sync_audience(conn, dest, AUDIENCE)
    assert first.outcome == "synced", first.message
    batches = math.ceil(len(desired_emails(conn)) / 100)
    assert first.requests > 2 + batches  # some calls were refused and retried
    members.delete(conn, [r[0] for r in world_rows if r[1]][:300])
    members.insert(conn, members.synthetic(300, start=700_000))
    second = sync_audience(conn, dest, AUDIENCE)
    assert (second.outcome, second.removed, second.added) == ("synced", 300, 300), second.message
    injected = requests.get(f"{graph_sandbox.url}/_sandbox/stats", timeout=10).json()["faults_injected"]
    set_faults(graph_sandbox.url, 0.0)
    assert sum(injected.values()) >= 5 and len(injected) >= 3
    assert segment_emails(graph_sandbox.url, first.platform_audience_id) == desired_emails(conn)
    print(f"linkedin faults met and survived: {injected}; requests {first.requests} + {second.requests}")


@pytest.mark.parametrize("crash_after", [1, 4, 9])
def test_a_crash_after_a_batch_resumes_without_loss_or_duplicates(conn, graph_sandbox, crash_after):
    rows = members.synthetic(1_000)
    members.insert(conn, rows)

    class Dying(LinkedInDestination):
        """Dies right after LinkedIn acknowledged batch ``crash_after``, before the ledger write."""

        acknowledged = 0

        def _users_request(self, audience_id, hashes, action):
            result = super()._users_request(audience_id, hashes, action)
            self.acknowledged += 1
            if self.acknowledged == crash_after:
                raise Crash
            return result

    with pytest.raises(Crash):
        sync_audience(conn, destination(graph_sandbox.url, Dying, max_elements=100), AUDIENCE)
    resumed = sync_audience(conn, destination(graph_sandbox.url, max_elements=100), AUDIENCE)
    assert resumed.outcome == "synced", resumed.message
    assert resumed.added == 1_000 - 100 * (crash_after - 1)  # the batch in flight is sent again, once
    segment = resumed.platform_audience_id
    assert segment_emails(graph_sandbox.url, segment) == desired_emails(conn)
    received = segment_received(graph_sandbox.url, segment)
    assert received["ADD"] == 1_000 + 100  # nothing lost, nothing sent twice beyond one batch
    segments = requests.get(f"{graph_sandbox.url}/_sandbox/linkedin/segments", timeout=10).json()["segments"]
    assert len(segments) == 1  # the re-run found the segment, no twin


def test_the_call_budget_answers_429_and_the_run_fails_with_linkedin_s_message(conn, graph_sandbox):
    requests.post(
        f"{graph_sandbox.url}/_sandbox/config", json={"linkedin_calls_per_minute": 2}, timeout=10
    ).raise_for_status()
    members.insert(conn, members.synthetic(500))
    dest = destination(graph_sandbox.url, max_elements=100)
    dest.retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    result = sync_audience(conn, dest, AUDIENCE)
    assert result.outcome == "failed"
    assert "TOO_MANY_REQUESTS" in result.message and "429" in result.message
    assert result.added == 200  # the two calls within budget were acknowledged and recorded
    held = conn.execute("select count(*) from ops.sync_state where destination = 'linkedin'").fetchone()[0]
    conn.commit()
    assert held == 200
