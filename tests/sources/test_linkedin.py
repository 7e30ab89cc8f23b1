"""LinkedIn comments and follower statistics against the sandbox over HTTP."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from audience import warehouse
from audience.retry import RetryPolicy
from audience.sources import linkedin as li

FAST = RetryPolicy(attempts=12, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)


def _comments(world):
    with open(world / "social" / "linkedin_comments.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _settings(url, **kw):
    return li.LinkedInSettings("sandbox-token", li.SANDBOX_ORGANIZATION, url, is_sandbox=True, **kw)


def test_comments_full_incremental_rerun_and_rejects(fresh_warehouse, sandbox, sandbox_world):
    world = _comments(sandbox_world)
    with warehouse.connect() as conn:
        first = li.load_comments(conn, retry=FAST)
        ids = [r[0] for r in conn.execute("select _record_id from raw.linkedin__comments")]
        assert first.rows_loaded == len(ids) == len(set(ids)) == len(world)
        assert li.load_comments(conn, retry=FAST).rows_loaded == 0
        post = world[0]["post"]
        new = {
            "id": "7389999999999999001",
            "actor": "urn:li:person:NEWPERSON1",
            "message": {"text": "Bravo", "attributes": []},
            "created": {"actor": "urn:li:person:NEWPERSON1", "time": 1795000000000},
        }
        bad = {"id": "7389999999999999002", "created": {"time": "yesterday"}}
        r = httpx.post(
            f"{sandbox.url}/_sandbox/social/linkedin/comments",
            json={"items": [{"post": post, "comment": c} for c in (new, bad)]},
        )
        assert r.status_code == 200
        res = li.load_comments(conn, retry=FAST)
        assert (res.rows_loaded, res.rows_rejected) == (1, 1)
        assert res.reject_reasons == {"bad_timestamp": 1}
        # read again in the overlap page, the bad comment is not rejected twice
        res = li.load_comments(conn, retry=FAST)
        assert (res.rows_loaded, res.rows_rejected) == (0, 0)
        assert conn.execute("select count(*) from raw.rejects where source = 'linkedin'").fetchone()[0] == 1


def test_faults_at_20_percent_still_load_exactly(fresh_warehouse, sandbox, sandbox_world):
    r = httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"rate": 0.2, "kinds": ["429", "500", "503"], "seed": 9}
    )
    assert r.status_code == 200
    with warehouse.connect() as conn:
        res = li.load_comments(conn, settings=_settings(sandbox.url, page_size=20), retry=FAST)
        ids = [r[0] for r in conn.execute("select _record_id from raw.linkedin__comments")]
        stats = li.load_follower_statistics(conn, settings=_settings(sandbox.url), retry=FAST)
    assert res.rows_loaded == len(ids) == len(set(ids)) == len(_comments(sandbox_world))
    assert stats.rows_loaded == 1
    assert sum(httpx.get(f"{sandbox.url}/_sandbox/stats").json()["faults_injected"].values()) > 0


def test_follower_statistics_once_a_day(fresh_warehouse, sandbox):
    with warehouse.connect() as conn:
        assert li.load_follower_statistics(conn, today="2026-11-20").rows_loaded == 1
        assert li.load_follower_statistics(conn, today="2026-11-20").rows_loaded == 0
        assert li.load_follower_statistics(conn, today="2026-11-21").rows_loaded == 1
        payload = conn.execute(
            "select payload from raw.linkedin__follower_statistics order by _record_id limit 1"
        ).fetchone()[0]
    for facet in (
        "followerCountsByGeoCountry",
        "followerCountsByGeo",
        "followerCountsBySeniority",
        "followerCountsByIndustry",
    ):
        assert payload[facet], facet
    assert payload["followerCountsByGeo"][0]["geo"].startswith("urn:li:geo:")


def test_retired_version_fails_clearly_and_rolls_back(fresh_warehouse, sandbox):
    with warehouse.connect() as conn:
        with pytest.raises(li.LinkedInSourceError, match="426.*NONEXISTENT_VERSION.*api_version"):
            li.load_comments(conn, settings=_settings(sandbox.url, api_version="202301"), retry=FAST)
        assert (
            conn.execute("select count(*) from ops.ingest_state where source = 'linkedin'").fetchone()[0] == 0
        )


def test_429_past_calls_per_minute_then_a_clear_failure(fresh_warehouse, sandbox):
    r = httpx.post(f"{sandbox.url}/_sandbox/linkedin/config", json={"calls_per_minute": 3})
    assert r.status_code == 200
    with warehouse.connect() as conn:
        policy = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01)
        with pytest.raises(li.LinkedInSourceError, match="still failing after 2 attempts.*HTTP 429"):
            li.load_comments(conn, settings=_settings(sandbox.url, page_size=5), retry=policy)
        # nothing half-loaded: the batch rolled back
        assert conn.execute("select count(*) from raw.linkedin__comments").fetchone()[0] == 0
        assert (
            conn.execute("select count(*) from ops.ingest_state where source = 'linkedin'").fetchone()[0] == 0
        )


def test_no_member_ids_or_token_in_logs(fresh_warehouse, sandbox, sandbox_world, caplog):
    actors = {c["comment"]["actor"] for c in _comments(sandbox_world)}
    with caplog.at_level(logging.DEBUG), warehouse.connect() as conn:
        summary = json.dumps(li.load_comments(conn, retry=FAST).summary())
    text = summary + "\n".join(r.getMessage() for r in caplog.records)
    assert not [a for a in actors if a in text]
    assert "sandbox-token" not in text


def test_calls_are_paced_to_calls_per_minute_retries_included(sandbox, sandbox_world):
    """Every attempt takes a token first: in any minute of the limiter's clock at most the limit."""
    from urllib.parse import quote

    from audience.ratelimit import SlidingWindow

    now = [0.0]
    bucket = SlidingWindow(12, 60.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    stamps: list[float] = []

    class Recording:
        def acquire(self) -> None:
            bucket.acquire()
            stamps.append(now[0])

    r = httpx.post(f"{sandbox.url}/_sandbox/faults", json={"rate": 0.2, "kinds": ["429"], "seed": 3})
    assert r.status_code == 200
    reader = li.LinkedInReader(_settings(sandbox.url, page_size=1), retry=FAST, limiter=Recording())
    per_post: dict[str, int] = {}
    for c in _comments(sandbox_world):
        per_post[c["post"]] = per_post.get(c["post"], 0) + 1
    post = max(per_post, key=per_post.__getitem__)
    assert per_post[post] > 12
    comments = list(reader.elements(f"/rest/socialActions/{quote(post, safe='')}/comments", {}, "comments"))
    expected = sum(1 for c in _comments(sandbox_world) if c["post"] == post)
    assert len(comments) == expected
    assert len(stamps) == reader.requests > 12  # 429 retries took tokens too
    assert max(sum(1 for s in stamps if t <= s < t + 60.0) for t in stamps) <= 12
    assert now[0] > 60.0  # it waited rather than going over


def test_calls_per_minute_setting_is_checked():
    with pytest.raises(Exception, match="calls_per_minute must be a positive integer"):
        li.LinkedInSettings("t", "1", "http://x", calls_per_minute=0)
    assert li.LinkedInSettings("t", "1", "http://x").calls_per_minute == 600


def test_a_rerun_reads_each_post_from_where_it_stopped(fresh_warehouse, sandbox, sandbox_world, caplog):
    """Comments come oldest first: a re-run asks each post for its last page only (one page of
    overlap), and still finds a comment added since; ``since`` reads everything again."""
    import re

    def requests_made() -> tuple[int, int]:
        (line,) = [r.getMessage() for r in caplog.records if "posts scanned" in r.getMessage()]
        caplog.clear()
        posts, made = re.search(r"(\d+) posts scanned, (\d+) requests", line).groups()
        return int(posts), int(made)

    settings = _settings(sandbox.url, page_size=1)  # a page per comment: the saving shows plainly
    world = _comments(sandbox_world)
    with warehouse.connect() as conn, caplog.at_level(logging.INFO, logger="audience.sources.linkedin"):
        assert li.load_comments(conn, settings=settings, retry=FAST).rows_loaded == len(world)
        posts, first = requests_made()
        assert first >= posts + len(world)
        assert li.load_comments(conn, settings=settings, retry=FAST).rows_loaded == 0
        posts, again = requests_made()
        # the posts' pages, then at most two pages per post
        assert again <= (posts + 1) + 2 * posts < first
        new = {
            "id": "7389999999999999101",
            "actor": "urn:li:person:NEWPERSON2",
            "message": {"text": "Super", "attributes": []},
            "created": {"actor": "urn:li:person:NEWPERSON2", "time": 1795000000001},
        }
        httpx.post(
            f"{sandbox.url}/_sandbox/social/linkedin/comments",
            json={"items": [{"post": world[0]["post"], "comment": new}]},
        ).raise_for_status()
        res = li.load_comments(conn, settings=settings, retry=FAST)
        assert (res.rows_loaded, res.rows_rejected) == (1, 0)
        requests_made()
        # since: a deliberate re-read of every page, every comment from that date loaded again
        again_all = li.load_comments(conn, settings=settings, retry=FAST, since="2000-01-01")
        assert again_all.rows_loaded == len(world) + 1
        assert requests_made()[1] >= first
