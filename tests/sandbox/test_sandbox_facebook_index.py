"""The sandbox's Graph comment edge answers from its per-post index exactly as a plain scan would.

The reference below is the edge's former algorithm (filter every comment of the post, sort, drop
those up to the cursor, slice): paging through a post with the index must give the same pages,
cursors and ``next`` links, whatever the window, filter, order or page size.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from sandbox import facebook_pages as fp
from sandbox import world_social as ws
from sandbox.graph import GraphError

POST_A = f"{ws.FACEBOOK_PAGE_ID}_101"
POST_B = f"{ws.FACEBOOK_PAGE_ID}_202"
URL = "http://sandbox/v26.0/x/comments"
FIELDS = "id,message,created_time,from,parent,like_count"
BASE = 1_790_000_000


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@pytest.fixture(scope="module")
def social(tmp_path_factory: pytest.TempPathFactory) -> fp.FacebookSocial:
    tmp_path = tmp_path_factory.mktemp("world")
    rng = random.Random(7)
    folder = tmp_path / ws.SOCIAL_DIR
    folder.mkdir()
    posts = [
        {"id": POST_A, "message": "a", "created_time": _time(BASE)},
        {"id": POST_B, "message": "b", "created_time": _time(BASE + 50)},
        {"id": f"{ws.FACEBOOK_PAGE_ID}_303", "message": "no comments", "created_time": _time(BASE + 99)},
    ]
    (folder / ws.FB_POSTS).write_text("".join(json.dumps(p) + "\n" for p in posts))
    lines = []
    for n in range(600):
        post = POST_A if n % 5 else POST_B
        ts = BASE + rng.randrange(0, 400)  # many comments share a second: ties are ordered by id
        comment = {"id": f"{n % 7}_{n}", "created_time": _time(ts), "from": {"id": "1", "name": "A B"}}
        if rng.random() < 0.3:
            comment["parent"] = {"id": f"0_{n - 1}"}
        lines.append({"post_id": post, "comment": comment})
    lines.append({"post_id": POST_A, "comment": {"id": "9_bad", "created_time": "yesterday"}})
    lines.append({"post_id": POST_A, "comment": "not an object"})
    rng.shuffle(lines)
    (folder / ws.FB_COMMENTS).write_text("".join(json.dumps(x) + "\n" for x in lines))
    return fp.FacebookSocial(tmp_path)


def _reference(social: fp.FacebookSocial, post_id: str, params: dict[str, str]) -> dict:
    """The edge as a linear scan over the post's comments (the sandbox's former code)."""
    fields = (params.get("fields") or "id,message,created_time,from").split(",")
    limit = int(params.get("limit", "25"))
    stream = params.get("filter", "toplevel") == "stream"
    since = int(params["since"]) if params.get("since") else None
    until = int(params["until"]) if params.get("until") else None
    rows = []
    for ts, key, comment in sorted(social.comments.get(post_id, []), key=lambda r: (r[0], r[1])):
        if (since is not None and ts < since) or (until is not None and ts > until):
            continue
        if not stream and isinstance(comment, dict) and comment.get("parent"):
            continue
        rows.append(((ts, key), comment))
    if params.get("order") == "reverse_chronological":
        rows = [((-k[0], k[1]), c) for k, c in reversed(rows)]

    def render(c):
        return {k: c[k] for k in fields if k in c} if isinstance(c, dict) else c

    return fp._page(rows, params, limit, URL, render)  # noqa: SLF001 - the generic pager, unchanged


def _walk(social: fp.FacebookSocial, post_id: str, params: dict[str, str]) -> int:
    """Follow the cursors to the end, comparing every page with the reference; returns the items."""
    params = dict(params)
    seen = 0
    for _ in range(1000):
        got = social.post_comments(post_id, dict(params), URL)
        assert got == _reference(social, post_id, params), params
        seen += len(got["data"])
        if "next" not in got.get("paging", {}):
            return seen
        params["after"] = got["paging"]["cursors"]["after"]
    raise AssertionError("paging did not end")


@pytest.mark.parametrize(
    ("post_id", "filt", "order", "window"),
    [
        (POST_A, "stream", "chronological", {}),
        (POST_A, None, None, {"since": str(BASE + 100)}),
        (POST_A, "toplevel", "chronological", {"until": str(BASE + 300)}),
        (POST_A, "stream", None, {"since": str(BASE + 100), "until": str(BASE + 300)}),
        (POST_B, "stream", "chronological", {"since": str(BASE + 390)}),
        (POST_B, "toplevel", None, {}),
        (f"{ws.FACEBOOK_PAGE_ID}_303", "stream", "chronological", {}),
    ],
)
def test_pages_match_a_plain_scan(social, post_id, filt, order, window):
    params = {"fields": FIELDS, "limit": "7", **window}
    if filt:
        params["filter"] = filt
    if order:
        params["order"] = order
    social.load()
    expected = len(
        [
            1
            for ts, _, c in social.comments.get(post_id, [])
            if ("since" not in window or ts >= int(window["since"]))
            and ("until" not in window or ts <= int(window["until"]))
            and (filt == "stream" or not (isinstance(c, dict) and c.get("parent")))
        ]
    )
    assert _walk(social, post_id, params) == expected


def test_reverse_order_and_odd_cursors_match_a_plain_scan(social):
    social.load()
    params = {"fields": FIELDS, "limit": "50", "filter": "stream", "order": "reverse_chronological"}
    first = social.post_comments(POST_A, dict(params), URL)
    assert first == _reference(social, POST_A, params)
    after = first["paging"]["cursors"]["after"]
    assert social.post_comments(POST_A, {**params, "after": after}, URL) == _reference(
        social, POST_A, {**params, "after": after}
    )
    # a cursor the edge never hands out ([ts] alone) is still honoured the old way
    odd = {**params, "order": "chronological", "after": fp._enc([BASE + 200])}  # noqa: SLF001
    assert social.post_comments(POST_A, dict(odd), URL) == _reference(social, POST_A, odd)
    with pytest.raises(GraphError):
        social.post_comments(POST_A, {**params, "after": "%%%"}, URL)


def test_planted_comments_join_the_index(social):
    social = fp.FacebookSocial(social.dir.parent)  # its own copy: planting changes it
    params = {"fields": FIELDS, "limit": "100", "filter": "stream"}
    before = _walk(social, POST_B, params)
    new = {"id": "5_new", "created_time": _time(BASE + 1), "from": {"id": "2", "name": "C D"}}
    assert social.plant("comments", [{"post_id": POST_B, "comment": new}]) == 1
    assert _walk(social, POST_B, params) == before + 1
    first = social.post_comments(POST_B, {**params, "since": str(BASE + 1), "until": str(BASE + 1)}, URL)
    assert "5_new" in [c["id"] for c in first["data"]]


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-12T08:15:30+0000",
        "2026-10-12T08:15:30-0130",
        "2026-10-12T08:15:30+0545",
        "2026-1-2T3:4:5+0000",
        "2026-10-12T08:15:30Z",
        "2026-02-30T00:00:00+0000",
        "2026-10-12T24:00:00+0000",
        "2026-10-12T08:15:60+0000",
        "2026-10-12T08:15:30+2400",
        "2026-10-12T08:15:30+0060",
        "yesterday",
    ],
)
def test_graph_time_reads_like_strptime(text):
    try:
        want = int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())
    except ValueError:
        with pytest.raises(ValueError):
            fp._graph_ts(text)  # noqa: SLF001
        return
    assert fp._graph_ts(text) == want  # noqa: SLF001
