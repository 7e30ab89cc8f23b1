"""LinkedIn organisation post comments and follower statistics, over the versioned REST API.

Settings come from the Airflow connection ``linkedin`` (password = OAuth
access token with the community management scopes; host = API base URL,
default https://api.linkedin.com; extra ``organization_id``, optionally
``api_version`` (YYYYMM), ``page_size`` and ``calls_per_minute``), else the local sandbox. Every call
sends ``Authorization: Bearer``, ``LinkedIn-Version`` and
``X-Restli-Protocol-Version: 2.0.0`` through ``requests``, retried on 429, 5xx
and dropped connections (:mod:`audience.retry`); a 426 names the retired version.
Calls are paced by a client-side sliding window to ``calls_per_minute`` (default 600,
LinkedIn's documented per-member throttle, which the sandbox enforces) in any
minute, retries included, at that full rate: a large organisation's thousands of comment pages take
minutes instead of failing on 429s that LinkedIn sends without ``Retry-After``.

- ``raw.linkedin__comments``: comments on the organisation's posts. The API has
  no time filter; comments come oldest first (start/count paging), so each post's
  comments are read from where the last run stopped, less one page of overlap
  (the watermark keeps each post's offset; ``since`` reads everything again), and
  only those created after the watermark (newest ``created.time`` seen, plus the
  ids at that millisecond) are loaded; a malformed comment goes to ``raw.rejects``
  once (the watermark keeps a short hash of each one rejected). Record id = comment id; the payload is the
  comment plus ``post`` (the post URN). The author is a member URN (PII by link,
  never logged).
- ``raw.linkedin__follower_statistics``: the lifetime follower counts (by geo
  country, geo, seniority, industry, function, staff count) as one record per
  organisation per day: record id ``<organization urn>|<YYYY-MM-DD>``; a second
  run the same day loads nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import psycopg
import requests

from audience import connections
from audience.ingest import (
    BatchResult,
    InstantWatermark,
    Record,
    Reject,
    get_watermark,
    load_batch,
    reset_watermark,
)
from audience.ratelimit import SlidingWindow
from audience.retry import GaveUp, RetryPolicy, TransientError, call_with_retry, parse_retry_after
from audience.settings import SettingError

log = logging.getLogger(__name__)

SOURCE = "linkedin"
CONNECTION_ID = "linkedin"
API_URL = "https://api.linkedin.com"
DEFAULT_API_VERSION = "202604"
SANDBOX_TOKEN = "sandbox-token"
DEFAULT_CALLS_PER_MINUTE = 600
SANDBOX_ORGANIZATION = "10480001"  # sandbox/world_social.py LINKEDIN_ORG_ID


class LinkedInSourceError(RuntimeError):
    """LinkedIn refused a read (status, code and LinkedIn's message; never a payload)."""


@dataclass(frozen=True)
class LinkedInSettings:
    access_token: str = field(repr=False)
    organization_id: str
    base_url: str = API_URL
    api_version: str = DEFAULT_API_VERSION
    page_size: int = 100
    timeout_s: float = 60.0
    is_sandbox: bool = False
    calls_per_minute: int = DEFAULT_CALLS_PER_MINUTE

    def __post_init__(self) -> None:
        org = str(self.organization_id).removeprefix("urn:li:organization:")
        object.__setattr__(self, "organization_id", org)
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.access_token:
            raise SettingError(f"connection '{CONNECTION_ID}' has no password: put the access token there")
        if not org.isdigit():
            raise SettingError(f"connection '{CONNECTION_ID}': extra organization_id must be numeric")
        if not re.fullmatch(r"\d{6}", self.api_version):
            raise SettingError(
                f"connection '{CONNECTION_ID}': api_version {self.api_version!r} must be YYYYMM"
            )
        if not 1 <= self.page_size <= 100:
            raise SettingError(f"connection '{CONNECTION_ID}': page_size must be between 1 and 100")
        if self.calls_per_minute < 1:
            raise SettingError(
                f"connection '{CONNECTION_ID}': calls_per_minute must be a positive integer "
                f"(LinkedIn's throttle is {DEFAULT_CALLS_PER_MINUTE})"
            )

    @property
    def organization_urn(self) -> str:
        return f"urn:li:organization:{self.organization_id}"

    @classmethod
    def resolve(cls) -> LinkedInSettings:
        """The Airflow connection ``linkedin`` when defined, else the local sandbox."""
        conn = connections.get(CONNECTION_ID)
        if conn is None:
            return cls(SANDBOX_TOKEN, SANDBOX_ORGANIZATION, connections.sandbox_url() or "", is_sandbox=True)
        extra = conn.extra or {}
        if not extra.get("organization_id"):
            raise SettingError(f"connection '{CONNECTION_ID}' has no extra organization_id; add it")
        try:
            return cls(
                conn.password or "",
                str(extra["organization_id"]),
                str(extra.get("base_url") or conn.base_url() or API_URL),
                str(extra.get("api_version") or DEFAULT_API_VERSION),
                int(extra.get("page_size") or 100),
                calls_per_minute=int(extra.get("calls_per_minute") or DEFAULT_CALLS_PER_MINUTE),
            )
        except (TypeError, ValueError) as exc:
            raise SettingError(
                f"connection '{CONNECTION_ID}': page_size or calls_per_minute is not a number ({exc})"
            ) from None


class LinkedInReader:
    def __init__(
        self,
        settings: LinkedInSettings,
        *,
        retry: RetryPolicy | None = None,
        limiter: SlidingWindow | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.limiter = limiter or SlidingWindow(settings.calls_per_minute, 60.0)
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {settings.access_token}",
                "LinkedIn-Version": settings.api_version,
                "X-Restli-Protocol-Version": "2.0.0",
            }
        )
        self.requests = 0

    def get(self, path: str, params: dict[str, Any], what: str) -> dict[str, Any]:
        url = f"{self.settings.base_url}{path}"

        def call() -> dict[str, Any]:
            self.limiter.acquire()
            self.requests += 1
            try:
                resp = self.session.get(url, params=params, timeout=self.settings.timeout_s)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientError(f"connection to LinkedIn failed ({type(exc).__name__})") from None
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TransientError(
                    f"HTTP {resp.status_code}",
                    retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                    status=resp.status_code,
                )
            try:
                body = resp.json()
            except ValueError:
                body = None
            if resp.status_code != 200 or not isinstance(body, dict):
                code = body.get("code") if isinstance(body, dict) else None
                message = body.get("message") if isinstance(body, dict) else "no JSON error body"
                hint = (
                    f"; LinkedIn-Version {self.settings.api_version} is not active: set a current YYYYMM "
                    f"as extra api_version of connection '{CONNECTION_ID}'"
                    if resp.status_code == 426
                    else ""
                )
                raise LinkedInSourceError(f"LinkedIn {what}: HTTP {resp.status_code} {code}: {message}{hint}")
            return body

        try:
            return call_with_retry(
                call, what=f"LinkedIn {what}", classify=lambda exc: None, policy=self.retry
            )
        except GaveUp as exc:
            raise LinkedInSourceError(str(exc)) from None

    def elements(
        self,
        path: str,
        params: dict[str, Any],
        what: str,
        *,
        start: int = 0,
        position: dict[str, int] | None = None,
    ) -> Iterator[Any]:
        """Every element of a start/count paged collection from ``start``; ``position["next"]`` is
        kept at the offset after the last element read."""
        if position is not None:
            position["next"] = start
        while True:
            body = self.get(path, {**params, "start": start, "count": self.settings.page_size}, what)
            elements = body.get("elements")
            if not isinstance(elements, list):
                raise LinkedInSourceError(f"LinkedIn {what}: the answer has no elements list")
            yield from elements
            paging = body.get("paging") or {}
            total = paging.get("total")
            start += len(elements)
            if position is not None:
                position["next"] = start
            has_next = any(
                link.get("rel") == "next" for link in paging.get("links") or [] if isinstance(link, dict)
            )
            if (
                not elements
                or (isinstance(total, int) and start >= total)
                or (total is None and not has_next)
            ):
                return


def _prepare(conn: psycopg.Connection, entity: str, full_refresh: bool) -> Any:
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    ensure_schemas(conn)
    if full_refresh:
        reset_watermark(conn, SOURCE, entity)
        conn.commit()
    return get_watermark(conn, SOURCE, entity)


def _reject_key(element: Any) -> str:
    """A short hash of a malformed comment, kept in the watermark so it is rejected once."""
    return hashlib.sha256(json.dumps(element, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _comment(item: Any, post: str) -> tuple[Record | Reject, int | None]:
    if not isinstance(item, dict):
        return Reject("not_an_object: comment is not a JSON object", item), None
    cid = item.get("id")
    if not isinstance(cid, str) or not cid:
        return Reject("missing_id: comment has no id", item), None
    created = (item.get("created") or {}).get("time") if isinstance(item.get("created"), dict) else None
    if isinstance(created, bool) or not isinstance(created, int) or not 0 < created < 4_102_444_800_000:
        return Reject(f"bad_timestamp: created.time is not epoch milliseconds (comment {cid})", item), None
    message = item.get("message")
    if message is not None and not (isinstance(message, dict) and isinstance(message.get("text", ""), str)):
        return Reject(f"wrong_type: message is not {{text}} (comment {cid})", item), None
    when = datetime.fromtimestamp(created / 1000, UTC).isoformat()
    return Record(cid, when, {**item, "post": post}), created


def load_comments(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: LinkedInSettings | None = None,
    retry: RetryPolicy | None = None,
) -> BatchResult:
    """Load comments on the organisation's posts created since the last run into raw.linkedin__comments."""
    settings = settings or LinkedInSettings.resolve()
    stored = _prepare(conn, "comments", full_refresh)
    if since:
        text = since if "T" in since else f"{since}T00:00:00+00:00"
        start_ms = int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
        mark = InstantWatermark.starting_at(start_ms, "ms")
    else:
        mark = InstantWatermark(stored, "ms")
    reader = LinkedInReader(settings, retry=retry)
    counts = {"posts": 0}
    # comments come oldest first: a post's comments already read are skipped, less one page of
    # overlap (deleted comments shift the offsets back); the watermark drops what is read twice
    read_before: dict[str, int] = {} if since else dict((stored or {}).get("offsets") or {})
    read_now: dict[str, int] = {}
    rejected: set[str] = set() if since else set((stored or {}).get("rejected") or [])

    def comments_of(urn: str, start: int) -> Iterator[Record | Reject]:
        position = {"next": start}
        path = f"/rest/socialActions/{quote(urn, safe='')}/comments"
        for element in reader.elements(path, {}, f"comments of {urn}", start=start, position=position):
            item, ms = _comment(element, urn)
            if ms is None:
                # a malformed comment read again (the overlap page) was kept by the run that read it
                key = _reject_key(element)
                if key not in rejected:
                    rejected.add(key)
                    yield item
                continue
            if not mark.is_new(ms, item.record_id):
                continue
            mark.saw(ms, item.record_id)
            yield item
        read_now[urn] = position["next"]

    def items() -> Iterator[Record | Reject]:
        posts = list(
            reader.elements(
                "/rest/posts", {"q": "author", "author": settings.organization_urn}, "organization posts"
            )
        )
        for post in posts:
            urn = post.get("id") if isinstance(post, dict) else None
            if not isinstance(urn, str):
                continue
            counts["posts"] += 1
            start = max(0, int(read_before.get(urn, 0)) - settings.page_size)
            yield from comments_of(urn, start)
            if start and read_now[urn] == start:
                # nothing at the old offset: more comments were deleted than the overlap; re-read all
                yield from comments_of(urn, 0)

    def next_watermark() -> dict[str, Any] | None:
        value = mark.value()
        if not read_now:
            return value
        return {**(value or {}), "offsets": {**read_before, **read_now}, "rejected": sorted(rejected)}

    result = load_batch(
        conn,
        SOURCE,
        "comments",
        items(),
        watermark_from=stored,
        next_watermark=next_watermark,
    )
    log.info(
        "linkedin.comments: %d posts scanned, %d requests (%s)",
        counts["posts"],
        reader.requests,
        "sandbox" if settings.is_sandbox else "LinkedIn",
    )
    return result


def load_follower_statistics(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: LinkedInSettings | None = None,
    retry: RetryPolicy | None = None,
    today: str | None = None,
) -> BatchResult:
    """Today's lifetime follower statistics into raw.linkedin__follower_statistics (once a day).

    ``since`` is accepted for the common signature; lifetime counts have no window.
    """
    settings = settings or LinkedInSettings.resolve()
    stored = _prepare(conn, "follower_statistics", full_refresh)
    day = today or datetime.now(UTC).date().isoformat()
    reader = LinkedInReader(settings, retry=retry)

    def items() -> Iterator[Record | Reject]:
        if stored and stored.get("day") == day:
            return
        params = {"q": "organizationalEntity", "organizationalEntity": settings.organization_urn}
        body = reader.get("/rest/organizationalEntityFollowerStatistics", params, "follower statistics")
        for element in body.get("elements") or []:
            if (
                not isinstance(element, dict)
                or element.get("organizationalEntity") != settings.organization_urn
            ):
                yield Reject("wrong_entity: follower statistics element is not this organisation's", element)
                continue
            yield Record(
                f"{settings.organization_urn}|{day}", f"{day}T00:00:00+00:00", {**element, "snapshot_on": day}
            )

    return load_batch(
        conn,
        SOURCE,
        "follower_statistics",
        items(),
        watermark_from=stored,
        next_watermark=lambda: {"day": day},
    )
