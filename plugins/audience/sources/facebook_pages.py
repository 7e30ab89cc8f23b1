"""Facebook page posts, their comments, and ad insights, through the ``facebook-business`` SDK.

Settings come from the Airflow connection ``facebook_graph`` (password = a
page or system-user access token; host = Graph base URL, default
graph.facebook.com; extra ``page_id``, ``ad_account_id``, optionally
``api_version``, ``page_size``, ``insights_lookback_days``), else the local
sandbox. Calls go through ``FacebookAdsApi.call`` on a session of our own
(``FacebookSession.GRAPH`` set on that session, no crash reporter, the SDK's
default API left alone), retried on Graph throttling, transient errors, 429/5xx
and dropped connections (:mod:`audience.retry`).

Raw tables and increments:

- ``raw.facebook__posts``: posts created since the last run (watermark: newest
  ``created_time`` seen, plus the ids at that second). Record id = post id.
- ``raw.facebook__comments``: for every post of the last ``post_lookback_days``,
  comments (``filter=stream``: replies too) created since the last run, cursor
  paging. Same watermark shape. Record id = comment id; the payload is Graph's
  comment plus ``post_id`` (the post it belongs to). The author
  (``from.name``) is PII: it stays in the payload, never in logs or summaries.
- ``raw.facebook__ad_insights``: daily rows (``time_increment=1``) at ad level by
  ``age,gender`` and by ``region``, for complete days after the last loaded
  day up to yesterday, in windows of 31 days. Record id =
  ``<date>|<level>|<breakdowns>|<ad id>|<breakdown values>``; the payload is Graph's
  row plus ``level`` and ``breakdowns`` (what was asked). Watermark = last
  day loaded (later corrections of a past day are not re-read: raise the
  window with ``since`` to reload a range; staging keeps the latest row per id).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import requests
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookError, FacebookRequestError
from facebook_business.session import FacebookSession

from audience import connections, graph_errors
from audience.ingest import (
    BatchResult,
    InstantWatermark,
    Record,
    Reject,
    get_watermark,
    load_batch,
    reset_watermark,
)
from audience.retry import GaveUp, RetryPolicy, TransientError, call_with_retry
from audience.settings import SettingError

log = logging.getLogger(__name__)

SOURCE = "facebook"
CONNECTION_ID = "facebook_graph"
GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"
SANDBOX_TOKEN = "sandbox-token"
SANDBOX_PAGE_ID = "104857600000001"  # sandbox/world_social.py FACEBOOK_PAGE_ID
SANDBOX_AD_ACCOUNT = "1000000001"
INSIGHT_BREAKDOWNS = (("age", "gender"), ("region",))
INSIGHT_FIELDS = (
    "account_id",
    "campaign_id",
    "campaign_name",
    "ad_id",
    "ad_name",
    "date_start",
    "date_stop",
    "impressions",
    "reach",
    "clicks",
    "spend",
)
METRICS = ("impressions", "reach", "clicks", "spend")
COMMENT_ID = re.compile(r"\d+(_\d+)*")


class FacebookSourceError(RuntimeError):
    """The Graph API refused a read (code, subcode and Graph's message; never a payload)."""


@dataclass(frozen=True)
class FacebookPagesSettings:
    access_token: str = field(repr=False)
    page_id: str
    ad_account_id: str
    base_url: str = GRAPH_URL
    api_version: str = DEFAULT_API_VERSION
    page_size: int = 100
    post_lookback_days: int = 365
    insights_lookback_days: int = 120
    timeout_s: float = 60.0
    is_sandbox: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "ad_account_id", str(self.ad_account_id).removeprefix("act_"))
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.access_token:
            raise SettingError(f"connection '{CONNECTION_ID}' has no password: put the access token there")
        if not str(self.page_id).isdigit() or not self.ad_account_id.isdigit():
            raise SettingError(
                f"connection '{CONNECTION_ID}': extra page_id and ad_account_id must be numeric ids "
                "(the digits of the page id and of act_<id>)"
            )
        if not re.fullmatch(r"v\d+\.\d+", self.api_version):
            raise SettingError(
                f"connection '{CONNECTION_ID}': api_version {self.api_version!r} is not like v26.0"
            )
        if not 1 <= self.page_size <= 100:
            raise SettingError(f"connection '{CONNECTION_ID}': page_size must be between 1 and 100")

    @classmethod
    def resolve(cls) -> FacebookPagesSettings:
        """The Airflow connection ``facebook_graph`` when defined, else the local sandbox."""
        conn = connections.get(CONNECTION_ID)
        if conn is None:
            return cls(
                SANDBOX_TOKEN,
                SANDBOX_PAGE_ID,
                SANDBOX_AD_ACCOUNT,
                connections.sandbox_url() or "",
                is_sandbox=True,
            )
        extra = conn.extra or {}
        for key in ("page_id", "ad_account_id"):
            if not extra.get(key):
                raise SettingError(
                    f"connection '{CONNECTION_ID}' has no extra {key}; add it to the connection's extra"
                )
        try:
            return cls(
                conn.password or "",
                str(extra["page_id"]),
                str(extra["ad_account_id"]),
                str(extra.get("base_url") or conn.base_url() or GRAPH_URL),
                str(extra.get("api_version") or DEFAULT_API_VERSION),
                int(extra.get("page_size") or 100),
                int(extra.get("post_lookback_days") or 365),
                int(extra.get("insights_lookback_days") or 120),
            )
        except (TypeError, ValueError) as exc:
            raise SettingError(
                f"connection '{CONNECTION_ID}': a numeric extra is not a number ({exc})"
            ) from None


def _classify(exc: FacebookRequestError) -> TransientError | FacebookSourceError:
    wait = graph_errors.transient(exc)
    if wait is not None:
        return wait
    code, subcode, status = exc.api_error_code(), exc.api_error_subcode(), exc.http_status()
    message = exc.api_error_message() or "no Graph error message"
    return FacebookSourceError(
        f"Graph API error code {code} (subcode {subcode}, HTTP {status}): {message}; "
        f"check the token's permissions and the ids in connection '{CONNECTION_ID}'"
    )


class GraphReader:
    """GET pages of a Graph edge through the SDK, with retries."""

    def __init__(self, settings: FacebookPagesSettings, *, retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        session = FacebookSession(access_token=settings.access_token, timeout=settings.timeout_s)
        session.GRAPH = settings.base_url  # this session only; the SDK's default API is untouched
        self.api = FacebookAdsApi(session, api_version=settings.api_version)

    @property
    def requests(self) -> int:
        return self.api.get_num_requests_attempted()

    def get(self, path: tuple[str, ...], params: dict[str, Any], what: str) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            try:
                response = self.api.call("GET", path, params=params)
            except FacebookRequestError as exc:
                raise _classify(exc) from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                raise TransientError(f"connection to the Graph API failed ({type(exc).__name__})") from None
            except (FacebookError, TypeError, ValueError):
                raise FacebookSourceError(f"the Graph API's answer to {what} could not be read") from None
            status = response.status()
            if status == 429 or (status is not None and status >= 500):
                raise TransientError(f"HTTP {status} page from the Graph API", status=status)
            body = response.json()
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise FacebookSourceError(
                    f"the Graph API's answer to {what} is not a list page (HTTP {status})"
                )
            return body

        try:
            return call_with_retry(
                call, what=f"Graph API: {what}", classify=lambda exc: None, policy=self.retry
            )
        except GaveUp as exc:
            raise FacebookSourceError(str(exc)) from None

    def pages(self, path: tuple[str, ...], params: dict[str, Any], what: str) -> Iterator[list[Any]]:
        """Every page of an edge, following ``paging.cursors.after`` while ``paging.next`` is present."""
        params = dict(params)
        while True:
            body = self.get(path, params, what)
            yield body["data"]
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params["after"] = after


def _ts(text: Any) -> int:
    """Unix seconds from a Graph time (``2026-10-12T08:15:30+0000``); ValueError if not one."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _since_seconds(since: str) -> int:
    text = since if "T" in since else f"{since}T00:00:00+00:00"
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())


def _record(kind: str, item: Any, mark: InstantWatermark) -> Record | Reject | None:
    if not isinstance(item, dict):
        return Reject(f"not_an_object: {kind} is not a JSON object", item)
    item_id = item.get("id")
    if not isinstance(item_id, str) or not COMMENT_ID.fullmatch(item_id):
        return Reject(f"missing_id: {kind} has no Graph id", item)
    try:
        ts = _ts(item.get("created_time"))
    except ValueError:
        return Reject(f"bad_timestamp: created_time is not a Graph time ({kind} {item_id})", item)
    if "message" in item and not isinstance(item["message"], str):
        return Reject(f"wrong_type: message is not a string ({kind} {item_id})", item)
    author = item.get("from")
    if author is not None and (not isinstance(author, dict) or not isinstance(author.get("id"), str)):
        return Reject(f"wrong_type: from is not an author object ({kind} {item_id})", item)
    if not mark.is_new(ts, item_id):
        return None
    mark.saw(ts, item_id)
    return Record(item_id, _iso(ts), item)


def _prepare(conn: psycopg.Connection, entity: str, full_refresh: bool) -> Any:
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    ensure_schemas(conn)
    if full_refresh:
        reset_watermark(conn, SOURCE, entity)
        conn.commit()
    return get_watermark(conn, SOURCE, entity)


def _load(
    conn: psycopg.Connection,
    entity: str,
    items: Iterator[Record | Reject],
    stored: Any,
    next_wm: Callable[[], Any],
) -> BatchResult:
    return load_batch(conn, SOURCE, entity, items, watermark_from=stored, next_watermark=next_wm)


def _post_fields() -> str:
    return "id,message,created_time,updated_time,permalink_url"


def load_posts(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: FacebookPagesSettings | None = None,
    retry: RetryPolicy | None = None,
) -> BatchResult:
    """Load the page's posts created since the last run (or ``since``, or all) into raw.facebook__posts."""
    settings = settings or FacebookPagesSettings.resolve()
    stored = _prepare(conn, "posts", full_refresh)
    mark = (
        InstantWatermark.starting_at(_since_seconds(since), "ts") if since else InstantWatermark(stored, "ts")
    )
    reader = GraphReader(settings, retry=retry)

    def items() -> Iterator[Record | Reject]:
        params: dict[str, Any] = {"fields": _post_fields(), "limit": settings.page_size}
        if mark.instant is not None:
            params["since"] = mark.instant
        for page in reader.pages((settings.page_id, "posts"), params, "page posts"):
            for post in page:
                item = _record("post", post, mark)
                if item is not None:
                    yield item

    result = _load(conn, "posts", items(), stored, mark.value)
    log.info(
        "facebook.posts: %d Graph requests (%s)",
        reader.requests,
        "sandbox" if settings.is_sandbox else "Graph API",
    )
    return result


def load_comments(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: FacebookPagesSettings | None = None,
    retry: RetryPolicy | None = None,
) -> BatchResult:
    """Load comments (replies included) created since the last run into raw.facebook__comments."""
    settings = settings or FacebookPagesSettings.resolve()
    stored = _prepare(conn, "comments", full_refresh)
    mark = (
        InstantWatermark.starting_at(_since_seconds(since), "ts") if since else InstantWatermark(stored, "ts")
    )
    reader = GraphReader(settings, retry=retry)
    posts_read = 0

    def items() -> Iterator[Record | Reject]:
        nonlocal posts_read
        oldest = (mark.instant or int(datetime.now(UTC).timestamp())) - settings.post_lookback_days * 86_400
        params = {"fields": "id,created_time", "limit": settings.page_size, "since": oldest}
        post_ids = [
            p["id"]
            for page in reader.pages((settings.page_id, "posts"), params, "page posts")
            for p in page
            if isinstance(p, dict) and isinstance(p.get("id"), str)
        ]
        for post_id in post_ids:
            posts_read += 1
            cparams: dict[str, Any] = {
                "filter": "stream",
                "order": "chronological",
                "fields": "id,message,created_time,from,parent,like_count",
                "limit": settings.page_size,
            }
            if mark.instant is not None:
                cparams["since"] = mark.instant
            for page in reader.pages((post_id, "comments"), cparams, f"comments of post {post_id}"):
                for comment in page:
                    if isinstance(comment, dict):
                        comment = {**comment, "post_id": post_id}
                    item = _record("comment", comment, mark)
                    if item is not None:
                        yield item

    result = _load(conn, "comments", items(), stored, mark.value)
    log.info(
        "facebook.comments: %d posts scanned, %d Graph requests (%s)",
        posts_read,
        reader.requests,
        "sandbox" if settings.is_sandbox else "Graph API",
    )
    return result


def insight_record_id(row: dict[str, Any], level: str, breakdown: tuple[str, ...]) -> str:
    """A stable key for one insights row: day, level, breakdown names, object id, breakdown values."""
    obj = (
        row.get("ad_id")
        if level == "ad"
        else row.get("campaign_id")
        if level == "campaign"
        else row.get("account_id")
    )
    values = "|".join(str(row.get(b)) for b in breakdown)
    return f"{row.get('date_start')}|{level}|{','.join(breakdown)}|{obj}|{values}"


def _insight(row: Any, level: str, breakdown: tuple[str, ...]) -> Record | Reject:
    if not isinstance(row, dict):
        return Reject("not_an_object: insights row is not a JSON object", row)
    try:
        day = date.fromisoformat(str(row.get("date_start")))
    except ValueError:
        return Reject("bad_date: date_start is not YYYY-MM-DD", row)
    missing = [b for b in breakdown if not isinstance(row.get(b), str) or not row.get(b)]
    if missing or (level == "ad" and not row.get("ad_id")):
        return Reject(f"missing_key: insights row has no {', '.join(missing) or 'ad_id'} ({day})", row)
    for metric in METRICS:
        try:
            if float(row.get(metric, "0")) < 0:
                raise ValueError
        except (TypeError, ValueError):
            return Reject(f"wrong_type: {metric} is not a non-negative number ({day})", row)
    payload = {**row, "level": level, "breakdowns": list(breakdown)}
    return Record(insight_record_id(row, level, breakdown), f"{day.isoformat()}T00:00:00+00:00", payload)


def load_ad_insights(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    until: str | None = None,
    settings: FacebookPagesSettings | None = None,
    retry: RetryPolicy | None = None,
    level: str = "ad",
) -> BatchResult:
    """Load daily insights by age × gender and by region into raw.facebook__ad_insights.

    Days after the last loaded day (or from ``since``, or ``insights_lookback_days``
    ago) up to ``until`` (default yesterday, UTC).
    """
    settings = settings or FacebookPagesSettings.resolve()
    stored = _prepare(conn, "ad_insights", full_refresh)
    last_day = date.fromisoformat(until) if until else datetime.now(UTC).date() - timedelta(days=1)
    if since:
        first_day = date.fromisoformat(since[:10])
    elif stored and stored.get("day"):
        first_day = date.fromisoformat(stored["day"]) + timedelta(days=1)
    else:
        first_day = last_day - timedelta(days=settings.insights_lookback_days - 1)
    reader = GraphReader(settings, retry=retry)
    state = {"day": stored.get("day") if stored else None}

    def items() -> Iterator[Record | Reject]:
        start = first_day
        while start <= last_day:
            stop = min(last_day, start + timedelta(days=30))
            for breakdown in INSIGHT_BREAKDOWNS:
                params = {
                    "level": level,
                    "breakdowns": ",".join(breakdown),
                    "time_range": {"since": start.isoformat(), "until": stop.isoformat()},
                    "time_increment": 1,
                    "fields": ",".join(INSIGHT_FIELDS),
                    "limit": 500,
                }
                path = (f"act_{settings.ad_account_id}", "insights")
                for page in reader.pages(path, params, f"insights {start}..{stop} by {','.join(breakdown)}"):
                    for row in page:
                        yield _insight(row, level, breakdown)
            if state["day"] is None or stop.isoformat() > state["day"]:
                state["day"] = stop.isoformat()
            start = stop + timedelta(days=1)

    result = load_batch(
        conn,
        SOURCE,
        "ad_insights",
        items(),
        watermark_from=stored,
        next_watermark=lambda: {"day": state["day"]} if state["day"] else None,
    )
    log.info("facebook.ad_insights: %s..%s, %d Graph requests", first_day, last_day, reader.requests)
    return result
