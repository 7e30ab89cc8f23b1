"""Facebook page posts, comments and ad insights against the sandbox over HTTP, through facebook-business."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from audience import warehouse
from audience.retry import RetryPolicy
from audience.sources import facebook_pages as fb

FAST = RetryPolicy(attempts=12, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)
UNTIL = "2026-10-31"


def _comments(world):
    with open(world / "social" / "facebook_comments.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _insight_rows(world):
    with open(world / "social" / "facebook_ad_insights.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _ids(conn, table):
    return [r[0] for r in conn.execute(f"select _record_id from {table}")]


def test_comments_full_load_then_rerun_loads_nothing(fresh_warehouse, sandbox, sandbox_world):
    expected = {c["comment"]["id"] for c in _comments(sandbox_world)}
    with warehouse.connect() as conn:
        first = fb.load_comments(conn, retry=FAST)
        ids = _ids(conn, "raw.facebook__comments")
        assert first.rows_loaded == len(ids) == len(set(ids)) == len(expected)
        assert set(ids) == expected
        payload = conn.execute("select payload from raw.facebook__comments limit 1").fetchone()[0]
        assert {"id", "message", "created_time", "from", "post_id"} <= set(payload)
        assert fb.load_comments(conn, retry=FAST).rows_loaded == 0


def test_comments_incremental_and_malformed(fresh_warehouse, sandbox, sandbox_world):
    post_id = _comments(sandbox_world)[0]["post_id"]
    with warehouse.connect() as conn:
        fb.load_comments(conn, retry=FAST)
        new = {
            "id": post_id.split("_")[1] + "_9999001",
            "created_time": "2026-11-20T10:00:00+0000",
            "from": {"id": "2999999999999999", "name": "Nouvelle Personne"},
            "message": "Super 👍",
        }
        bad_time = {"id": post_id.split("_")[1] + "_9999002", "created_time": "yesterday", "message": "x"}
        no_id = {"created_time": "2026-11-20T10:00:00+0000", "message": "no id"}
        r = httpx.post(
            f"{sandbox.url}/_sandbox/social/facebook/comments",
            json={"items": [{"post_id": post_id, "comment": c} for c in (new, bad_time, no_id)]},
        )
        assert r.status_code == 200
        res = fb.load_comments(conn, retry=FAST)
        assert res.rows_loaded == 1
        assert res.rows_rejected == 2
        assert set(res.reject_reasons) == {"bad_timestamp", "missing_id"}
        assert (
            conn.execute(
                "select count(*) from raw.facebook__comments where _record_id = %s", (new["id"],)
            ).fetchone()[0]
            == 1
        )
        assert (
            conn.execute(
                "select count(*) from raw.rejects where source = 'facebook' and entity = 'comments'"
            ).fetchone()[0]
            == 2
        )


def test_faults_at_20_percent_still_load_exactly(fresh_warehouse, sandbox, sandbox_world):
    r = httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"rate": 0.2, "kinds": ["429", "500", "503", "graph_rate_limit"], "seed": 5},
    )
    assert r.status_code == 200
    with warehouse.connect() as conn:
        res = fb.load_comments(conn, retry=FAST)
        ids = _ids(conn, "raw.facebook__comments")
        ins = fb.load_ad_insights(conn, since="2026-10-01", until=UNTIL, retry=FAST)
        iids = _ids(conn, "raw.facebook__ad_insights")
    assert res.rows_loaded == len(ids) == len(set(ids)) == len(_comments(sandbox_world))
    expected = [r for r in _insight_rows(sandbox_world) if r["date_start"] >= "2026-10-01"]
    assert ins.rows_loaded == len(iids) == len(set(iids)) == len(expected)
    stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()
    assert sum(stats["faults_injected"].values()) > 0


def test_posts_full_and_incremental(fresh_warehouse, sandbox, sandbox_world):
    with open(sandbox_world / "social" / "facebook_posts.jsonl", encoding="utf-8") as fh:
        posts = [json.loads(line) for line in fh]
    with warehouse.connect() as conn:
        assert fb.load_posts(conn, retry=FAST).rows_loaded == len(posts)
        assert fb.load_posts(conn, retry=FAST).rows_loaded == 0
        new = {
            "id": f"{fb.SANDBOX_PAGE_ID}_1999999999",
            "message": "Nouveau",
            "created_time": "2026-11-21T09:00:00+0000",
        }
        httpx.post(f"{sandbox.url}/_sandbox/social/facebook/posts", json={"items": [new]})
        assert fb.load_posts(conn, retry=FAST).rows_loaded == 1


def test_ad_insights_windows_incremental_and_rejects(fresh_warehouse, sandbox, sandbox_world):
    rows = _insight_rows(sandbox_world)
    with warehouse.connect() as conn:
        first = fb.load_ad_insights(conn, since="2026-08-01", until="2026-09-30", retry=FAST)
        assert first.rows_loaded == sum(r["date_start"] <= "2026-09-30" for r in rows)
        bad = {
            "breakdown": "region",
            "account_id": "1000000001",
            "ad_id": "120200000000000101",
            "date_start": "2026-10-05",
            "date_stop": "2026-10-05",
            "region": "Bretagne",
            "impressions": "many",
            "reach": "1",
            "clicks": "0",
            "spend": "0.10",
        }
        httpx.post(f"{sandbox.url}/_sandbox/social/facebook/ad_insights", json={"items": [bad]})
        second = fb.load_ad_insights(conn, until=UNTIL, retry=FAST)
        assert second.rows_loaded == sum(r["date_start"] > "2026-09-30" for r in rows)
        assert second.reject_reasons == {"wrong_type": 1}
        assert fb.load_ad_insights(conn, until=UNTIL, retry=FAST).rows_loaded == 0
        n, distinct = conn.execute(
            "select count(*), count(distinct _record_id) from raw.facebook__ad_insights"
        ).fetchone()
        assert n == distinct == len(rows)
        regions = {
            r[0]
            for r in conn.execute(
                "select distinct payload->>'region' from raw.facebook__ad_insights where payload ? 'region'"
            )
        }
        assert "Île-de-France" in regions
        ages = {r[0] for r in conn.execute("select distinct payload->>'age' from raw.facebook__ad_insights")}
        assert {"18-24", "65+"} <= ages


def test_no_author_names_or_token_in_logs_and_summary(fresh_warehouse, sandbox, sandbox_world, caplog):
    names = {c["comment"]["from"]["name"] for c in _comments(sandbox_world)}
    with caplog.at_level(logging.DEBUG), warehouse.connect() as conn:
        summary = json.dumps(fb.load_comments(conn, retry=FAST).summary(), ensure_ascii=False)
    text = summary + "\n".join(r.getMessage() for r in caplog.records)
    assert names and not [n for n in names if n in text]
    assert "sandbox-token" not in text


def test_bad_token_fails_with_a_clear_message(fresh_warehouse, sandbox):
    settings = fb.FacebookPagesSettings(
        "INVALID-token", fb.SANDBOX_PAGE_ID, fb.SANDBOX_AD_ACCOUNT, sandbox.url
    )
    with warehouse.connect() as conn, pytest.raises(fb.FacebookSourceError, match="code 190"):
        fb.load_comments(conn, settings=settings, retry=FAST)
