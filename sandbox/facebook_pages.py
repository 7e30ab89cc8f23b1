"""The Graph API's page posts, comments and ad insights, served from the world's social files.

- ``GET /{v}/{page_id}/posts?since=&until=&limit=&after=&fields=`` — newest first;
- ``GET /{v}/{post_id}/comments?filter=stream|toplevel&since=&until=&limit=&after=&order=`` —
  chronological (``filter=stream`` includes replies, the default ``toplevel`` does not);
- ``GET /{v}/act_{id}/insights?level=ad|campaign|account&breakdowns=age,gender|region&
  time_range={"since","until"}&time_increment=1|all_days&fields=&limit=&after=``.

Lists answer ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next": url}}``
(``next`` only when more follows). Errors, tokens and versions behave as in
:mod:`sandbox.graph`; the app's gate injects faults on these paths like on any
Graph path. Insights calls spend the ad account's hourly budget.

Sandbox only: ``POST /_sandbox/social/facebook/{posts|comments|ad_insights}`` with
``{"items": [...]}`` appends raw items (comments as ``{"post_id", "comment"}``,
insight rows with a ``breakdown`` key), to simulate new activity or malformed
records.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from sandbox import world_social as ws
from sandbox.graph import VERSIONS, GraphError, unsupported
from sandbox.wire import JSONResponse

POST_FIELDS = ("id", "message", "created_time", "updated_time", "permalink_url")
COMMENT_FIELDS = ("id", "message", "created_time", "from", "like_count", "parent", "comment_count")
DEFAULT_POST_FIELDS = ("id", "message", "created_time")
DEFAULT_COMMENT_FIELDS = ("id", "message", "created_time", "from")
METRICS = ("impressions", "reach", "clicks", "spend")
INSIGHT_FIELDS = (
    "account_id",
    "campaign_id",
    "campaign_name",
    "ad_id",
    "ad_name",
    "date_start",
    "date_stop",
    *METRICS,
    "ctr",
    "cpm",
)
BREAKDOWNS = {"": "age,gender", "age,gender": "age,gender", "gender,age": "age,gender", "region": "region"}
MAX_MONTHS = 37
MALFORMED_TS = 2**40


_GRAPH_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)([+-])(\d\d)([0-5]\d)")
_OFFSETS: dict[str, timezone] = {}


def _graph_ts(text: str) -> int:
    """Unix seconds of a Graph time (``2026-10-12T08:15:30+0000``); ValueError if it is not one.

    The usual shape is read field by field (strptime costs about ten times more, which counts when a
    world holds a million comments); anything else goes through strptime, which decides.
    """
    m = _GRAPH_TIME.fullmatch(text)
    if m is not None:
        y, mo, d, h, mi, sec, sign, oh, om = m.groups()
        offset = sign + oh + om
        tz = _OFFSETS.get(offset)
        try:
            if tz is None:
                delta = timedelta(hours=int(oh), minutes=int(om))
                tz = _OFFSETS[offset] = timezone(-delta if sign == "-" else delta)
            return int(datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec), tzinfo=tz).timestamp())
        except ValueError:
            pass  # out of range: strptime gives the error
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())


def _time_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    if raw.isdigit():
        return int(raw)
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(100, f"(#100) Param {name} must be a unix timestamp or a date") from None
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


def _int(params: dict[str, str], name: str, default: int, hi: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or not 1 <= int(raw) <= hi:
        raise GraphError(100, f"(#100) Param {name} must be an integer between 1 and {hi}")
    return int(raw)


def _enc(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _dec(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise GraphError(100, "(#100) Invalid cursor") from None


def _fields(
    params: dict[str, str], allowed: tuple[str, ...], default: tuple[str, ...], node: str
) -> list[str]:
    raw = params.get("fields")
    if not raw:
        return list(default)
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    for f in wanted:
        if f not in allowed:
            raise GraphError(100, f"(#100) Tried accessing nonexisting field ({f}) on node type ({node})")
    return wanted


class _PostComments:
    """One post's comments in (created time, id) order, with the keys to binary-search them.

    ``all`` holds every comment (``filter=stream``), ``top`` those that are not replies
    (``filter=toplevel``); each is a pair of parallel lists: sort keys and comments.
    """

    __slots__ = ("all", "top")

    def __init__(self, rows: list[tuple[int, str, Any]]) -> None:
        rows.sort(key=lambda r: (r[0], r[1]))
        top = [r for r in rows if not (isinstance(r[2], dict) and r[2].get("parent"))]
        self.all = ([(r[0], r[1]) for r in rows], [r[2] for r in rows])
        self.top = ([(r[0], r[1]) for r in top], [r[2] for r in top])


class FacebookSocial:
    """The page's posts and comments and the ad account's insight rows (read once, before the
    sandbox answers: ``create_router``).

    Comments are indexed per post at load time (sorted once, replies apart), so a page of
    comments costs a binary search on the time window and on the ``after`` cursor, not a scan
    of the post's comments: paging through a post is linear in its comments, not quadratic.
    """

    def __init__(self, world_dir: Path) -> None:
        self.dir = Path(world_dir) / ws.SOCIAL_DIR
        self._lock = threading.Lock()
        self._loaded = False
        self.posts: list[dict[str, Any]] = []
        self.post_ids: set[Any] = set()
        self.comments: dict[str, list[tuple[int, str, Any]]] = defaultdict(list)
        self.index: dict[str, _PostComments] = {}
        self.insights: list[dict[str, Any]] = []

    def load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self.posts = self._read(ws.FB_POSTS)
            for item in self._read(ws.FB_COMMENTS):
                self._add_comment(item)
            self.insights = self._read(ws.FB_INSIGHTS)
            self._sort(self.comments)
            self._loaded = True

    def _read(self, name: str) -> list[dict[str, Any]]:
        path = self.dir / name
        if not path.exists():
            return []
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def _add_comment(self, item: dict[str, Any]) -> str:
        comment = item.get("comment")
        created = comment.get("created_time") if isinstance(comment, dict) else None
        try:
            ts = _graph_ts(created) if isinstance(created, str) else MALFORMED_TS
        except ValueError:
            ts = MALFORMED_TS  # a planted malformed comment: served as the newest, whatever the window
        key = str(comment.get("id")) if isinstance(comment, dict) else ""
        post_id = str(item.get("post_id"))
        self.comments[post_id].append((ts, key, comment))
        return post_id

    def _sort(self, post_ids: Any) -> None:
        """Re-index the comments of ``post_ids`` and re-sort the posts."""
        for post_id in post_ids:
            self.index[post_id] = _PostComments(self.comments[post_id])
        self.posts.sort(key=lambda p: (str(p.get("created_time")), str(p.get("id"))), reverse=True)
        self.post_ids = {p.get("id") for p in self.posts}

    def plant(self, dataset: str, items: list[Any]) -> int:
        self.load()
        with self._lock:
            touched: set[str] = set()
            if dataset == "posts":
                self.posts.extend(items)
            elif dataset == "comments":
                for item in items:
                    touched.add(self._add_comment(item))
            elif dataset == "ad_insights":
                self.insights.extend(items)
            else:
                raise KeyError(dataset)
            self._sort(touched)
        return len(items)

    # -- edges ----------------------------------------------------------------------------------
    def page_posts(self, page_id: str, params: dict[str, str], url: str) -> dict[str, Any]:
        self.load()
        if page_id != ws.FACEBOOK_PAGE_ID:
            raise unsupported("GET", page_id)
        fields = _fields(params, POST_FIELDS, DEFAULT_POST_FIELDS, "Page")
        limit = _int(params, "limit", 25, 100)
        since, until = _time_param(params, "since"), _time_param(params, "until")
        rows = []
        for post in self.posts:
            ts = _graph_ts(post["created_time"])
            if (since is None or ts >= since) and (until is None or ts <= until):
                rows.append(((-ts, post["id"]), post))
        return _page(rows, params, limit, url, lambda p: {k: p[k] for k in fields if k in p})

    def post_comments(self, post_id: str, params: dict[str, str], url: str) -> dict[str, Any]:
        self.load()
        if post_id not in self.comments and post_id not in self.post_ids:
            raise unsupported("GET", post_id)
        fields = _fields(params, COMMENT_FIELDS, DEFAULT_COMMENT_FIELDS, "Comment")
        limit = _int(params, "limit", 25, 100)
        stream = params.get("filter", "toplevel") == "stream"
        if params.get("filter", "toplevel") not in ("stream", "toplevel"):
            raise GraphError(100, "(#100) filter must be one of {toplevel, stream}")
        since, until = _time_param(params, "since"), _time_param(params, "until")
        indexed = self.index.get(post_id)
        keys, items = (indexed.all if stream else indexed.top) if indexed else ([], [])
        lo = 0 if since is None else bisect_left(keys, (since,))
        hi = len(keys) if until is None else bisect_left(keys, (until + 1,))
        hi = max(lo, hi)

        def render(c: Any) -> Any:
            return {k: c[k] for k in fields if k in c} if isinstance(c, dict) else c

        if params.get("order") == "reverse_chronological":
            rows = [((-keys[i][0], keys[i][1]), items[i]) for i in range(hi - 1, lo - 1, -1)]
            return _page(rows, params, limit, url, render)
        start = lo
        if params.get("after"):
            after = _dec(params["after"])
            if not (
                isinstance(after, list)
                and len(after) == 2
                and type(after[0]) in (int, float)
                and isinstance(after[1], str)
            ):  # not a cursor this edge hands out: compared row by row, as before
                rows = [(keys[i], items[i]) for i in range(lo, hi)]
                return _page(rows, params, limit, url, render)
            start = max(lo, bisect_right(keys, (after[0], after[1]), lo, hi))
        stop = min(hi, start + limit)
        return _paged_body(
            keys[start:stop], [render(c) for c in items[start:stop]], hi - start > limit, params, url
        )

    def insights_page(self, account: str, params: dict[str, str], url: str) -> dict[str, Any]:
        self.load()
        if account != ws.AD_ACCOUNT_ID:
            raise unsupported("GET", f"act_{account}")
        level = params.get("level") or "account"
        if level not in ("ad", "campaign", "account"):
            raise GraphError(100, "(#100) param level must be one of {ad, adset, campaign, account}")
        raw_breakdowns = (params.get("breakdowns") or "").replace(" ", "")
        if raw_breakdowns.startswith("["):
            raw_breakdowns = ",".join(json.loads(raw_breakdowns))
        if raw_breakdowns not in BREAKDOWNS:
            raise GraphError(
                100, f"(#100) Current combination of data breakdown columns ({raw_breakdowns}) is invalid"
            )
        breakdown = BREAKDOWNS[raw_breakdowns]
        dims = () if not raw_breakdowns else tuple(breakdown.split(","))
        tr = params.get("time_range")
        try:
            span = json.loads(tr) if tr else None
            first = date.fromisoformat(span["since"]) if span else date.today() - timedelta(days=30)
            last = date.fromisoformat(span["until"]) if span else date.today() - timedelta(days=1)
        except (ValueError, KeyError, TypeError):
            raise GraphError(
                100, '(#100) time_range must be {"since":"YYYY-MM-DD","until":"YYYY-MM-DD"}'
            ) from None
        if last < first:
            raise GraphError(100, "(#100) time_range: since must be on or before until")
        if first < date.today() - timedelta(days=MAX_MONTHS * 31):
            raise GraphError(
                3018,
                f"(#3018) The start date of the time range cannot be beyond {MAX_MONTHS} months from the current date",
            )
        daily = str(params.get("time_increment", "all_days")) == "1"
        if str(params.get("time_increment", "all_days")) not in ("1", "all_days"):
            raise GraphError(100, "(#100) time_increment must be 1 or all_days in the sandbox")
        default_fields = ["date_start", "date_stop", *METRICS]
        wanted = _fields(params, INSIGHT_FIELDS, tuple(default_fields), "AdsInsights")
        keep_ids = {
            "ad": ("ad_id", "ad_name", "campaign_id", "campaign_name"),
            "campaign": ("campaign_id", "campaign_name"),
        }
        id_fields = [f for f in keep_ids.get(level, ()) if f in wanted] + (
            ["account_id"] if "account_id" in wanted else []
        )
        groups: dict[tuple, dict[str, Any]] = {}
        order: list[tuple] = []
        for row in self.insights:
            if not isinstance(row, dict) or row.get("breakdown") != breakdown:
                continue
            try:
                day = date.fromisoformat(str(row.get("date_start")))
            except ValueError:
                day = None
            if day is not None and not first <= day <= last:
                continue
            if day is None and raw_breakdowns == "":
                continue
            level_key = {"ad": row.get("ad_id"), "campaign": row.get("campaign_id"), "account": ""}[level]
            period = str(row.get("date_start")) if daily else f"{first}"
            key = (period, level_key, *(row.get(d) for d in dims))
            if level == "ad" and (day is None or not all(_number(row.get(m)) for m in METRICS)):
                # a planted (malformed) row at ad level is served as is
                groups[(*key, len(order))] = {k: v for k, v in row.items() if k != "breakdown"}
                order.append((*key, len(order)))
                continue
            g = groups.get(key)
            if g is None:
                g = groups[key] = {
                    "_sum": dict.fromkeys(METRICS, 0.0),
                    "date_start": str(row["date_start"]) if daily else first.isoformat(),
                    "date_stop": str(row["date_stop"]) if daily else last.isoformat(),
                    **{f: row.get(f) for f in id_fields},
                    **{d: row.get(d) for d in dims},
                }
                order.append(key)
            for m in METRICS:
                g["_sum"][m] += float(row.get(m) or 0)
        rows = []
        for n, key in enumerate(sorted(order, key=lambda k: tuple(str(x) for x in k))):
            g = groups[key]
            sums = g.pop("_sum", None)
            if sums is not None:
                g["impressions"] = str(int(sums["impressions"]))
                g["reach"] = str(int(sums["reach"]))
                g["clicks"] = str(int(sums["clicks"]))
                g["spend"] = f"{sums['spend']:.2f}"
                imp = sums["impressions"] or 1
                g["ctr"] = f"{100 * sums['clicks'] / imp:.6f}"
                g["cpm"] = f"{1000 * sums['spend'] / imp:.6f}"
                out = {k: g[k] for k in [*id_fields, *wanted] if k in g}
                out.update({d: g[d] for d in dims})
                out["date_start"], out["date_stop"] = g["date_start"], g["date_stop"]
            else:
                out = g
            rows.append(((n,), out))
        return _page(rows, params, _int(params, "limit", 25, 500), url, lambda r: r)


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _page(
    rows: list[tuple[tuple, Any]], params: dict[str, str], limit: int, url: str, render: Any
) -> dict[str, Any]:
    """One page of ``(sort key, item)`` rows after the ``after`` cursor, in Graph's paging shape."""
    if params.get("after"):
        after = tuple(_dec(params["after"]))
        rows = [r for r in rows if list(r[0]) > list(after)]
    page = rows[:limit]
    return _paged_body(
        [k for k, _ in page], [render(item) for _, item in page], len(rows) > limit, params, url
    )


def _paged_body(
    keys: list[tuple], data: list[Any], more: bool, params: dict[str, str], url: str
) -> dict[str, Any]:
    """``{"data", "paging"}``: cursors from the first and last sort keys, ``next`` when ``more``."""
    body: dict[str, Any] = {"data": data}
    if keys:
        paging: dict[str, Any] = {"cursors": {"before": _enc(list(keys[0])), "after": _enc(list(keys[-1]))}}
        if more:
            query = {k: v for k, v in params.items() if k != "after"}
            query["after"] = paging["cursors"]["after"]
            paging["next"] = f"{url}?{urlencode(query)}"
        body["paging"] = paging
    return body


def _check(version: str, params: dict[str, str]) -> None:
    if version not in VERSIONS:
        raise GraphError(
            2635,
            f"(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: "
            f"{VERSIONS[0]}.",
        )
    token = params.get("access_token", "")
    if not token:
        raise GraphError(190, "An access token is required to request this resource.")
    if token.upper().startswith("EXPIRED"):
        raise GraphError(190, "Error validating access token: Session has expired.", subcode=463)
    if token.upper().startswith("INVALID"):
        raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")


def create_router(world_dir: Path) -> APIRouter:
    """The routes above, over ``world_dir``; include it before the app's catch-all Graph route.

    The page's posts and comments are read here, before the server answers, as the contacts are
    indexed: Facebook's data is there before anyone asks, so the first client's request does not
    pay for parsing the world's files (13.6 CPU-seconds for the 1M-contact world's 617,282
    comments, README, Benchmark).
    """
    social = FacebookSocial(world_dir)
    social.load()
    router = APIRouter()

    def answer(fn: Any, version: str, request: Request, *args: Any) -> Any:
        params = dict(request.query_params)
        try:
            _check(version, params)
            url = str(request.base_url).rstrip("/") + request.url.path
            return JSONResponse(fn(*args, params, url))
        except GraphError as exc:
            return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @router.get("/{version}/{node}/posts")
    async def posts(version: str, node: str, request: Request) -> Any:
        return await run_in_threadpool(answer, social.page_posts, version, request, node)

    @router.get("/{version}/{node}/comments")
    async def comments(version: str, node: str, request: Request) -> Any:
        return await run_in_threadpool(answer, social.post_comments, version, request, node)

    @router.get("/{version}/{node}/insights")
    async def insights(version: str, node: str, request: Request) -> Any:
        def call(account: str, params: dict[str, str], url: str) -> dict[str, Any]:
            if not node.startswith("act_"):
                raise unsupported("GET", node)
            graph = getattr(request.app.state, "graph", None)
            if graph is not None:
                graph._spend(account)  # the ad account's hourly call budget (GraphError 17 past it)
            return social.insights_page(account, params, url)

        return await run_in_threadpool(answer, call, version, request, node.removeprefix("act_"))

    @router.post("/_sandbox/social/facebook/{dataset}")
    async def plant(dataset: str, request: Request) -> Any:
        body = json.loads(await request.body() or b"{}")
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or dataset not in ("posts", "comments", "ad_insights"):
            return JSONResponse(
                {"error": 'POST {"items": [...]} to /_sandbox/social/facebook/{posts|comments|ad_insights}'},
                status_code=400,
            )
        return {"planted": await run_in_threadpool(social.plant, dataset, items)}

    return router
