"""LinkedIn's versioned REST API (community management): posts, comments, follower statistics.

Every ``/rest`` call needs ``Authorization: Bearer <token>``, ``LinkedIn-Version:
YYYYMM`` (an active version: 202501 up to the current month; retired or
unknown versions answer 426 ``NONEXISTENT_VERSION``) and
``X-Restli-Protocol-Version: 2.0.0``. Errors have LinkedIn's shape
``{"status", "serviceErrorCode", "code", "message"}``; past
``calls_per_minute`` (600) per token the answer is 429 ``TOO_MANY_REQUESTS``.

- ``GET /rest/posts?q=author&author=urn:li:organization:N&start=&count=&sortBy=`` (newest first)
- ``GET /rest/socialActions/{post urn}/comments?start=&count=`` (oldest first)
- ``GET /rest/organizationalEntityFollowerStatistics?q=organizationalEntity&organizationalEntity=urn``
  (lifetime counts by geo country, geo, seniority, industry, ...)
- ``GET /rest/geo/{id}`` (the name of a geo URN)

Paging: ``{"elements": [...], "paging": {"start", "count", "total", "links": [...]}}``.

Faults (``POST /_sandbox/faults``) apply to these paths too: when the fault
targets include ``linkedin``, or cover every API the sandbox config knows.
Sandbox only: ``POST /_sandbox/social/linkedin/{comments|posts}`` with
``{"items": [...]}`` appends items (comments as ``{"post", "comment"}``);
``POST /_sandbox/linkedin/config`` ``{"calls_per_minute": n}``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sandbox import config as sandbox_config
from sandbox import world_social as ws

FIRST_VERSION = 202501
DEFAULT_CALLS_PER_MINUTE = 600


class LinkedInError(Exception):
    def __init__(
        self, status: int, code: str, message: str, service_code: int = 0, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"status": status, "serviceErrorCode": service_code, "code": code, "message": message}
        self.headers = headers or {}


def _active(version: str) -> bool:
    if len(version) != 6 or not version.isdigit():
        return False
    now = datetime.now(UTC)
    month = int(version[4:])
    return 1 <= month <= 12 and FIRST_VERSION <= int(version) <= now.year * 100 + now.month


class LinkedInSocial:
    def __init__(self, world_dir: Path) -> None:
        self.dir = Path(world_dir) / ws.SOCIAL_DIR
        self._lock = threading.Lock()
        self._loaded = False
        self.posts: list[dict[str, Any]] = []
        self.comments: dict[str, list[Any]] = defaultdict(list)
        self.followers: dict[str, Any] = {}
        self.geo: dict[str, str] = {}
        self.calls_per_minute = DEFAULT_CALLS_PER_MINUTE
        self.calls: dict[str, deque[float]] = {}

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for item in self._read(ws.LI_POSTS):
                self.posts.append(item)
            for item in self._read(ws.LI_COMMENTS):
                self.comments[str(item.get("post"))].append(item.get("comment"))
            path = self.dir / ws.LI_FOLLOWERS
            self.followers = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            path = self.dir / ws.LI_GEO
            self.geo = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            self._sort()
            self._loaded = True

    def _read(self, name: str) -> list[dict[str, Any]]:
        path = self.dir / name
        if not path.exists():
            return []
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def _sort(self) -> None:
        def created(c: Any) -> int:
            t = (c.get("created") or {}).get("time") if isinstance(c, dict) else None
            return t if isinstance(t, int) else 0

        for rows in self.comments.values():
            rows.sort(key=created)
        self.posts.sort(key=lambda p: p.get("createdAt") or 0, reverse=True)

    def plant(self, dataset: str, items: list[Any]) -> int:
        self.load()
        with self._lock:
            for item in items:
                if dataset == "comments":
                    self.comments[str(item.get("post"))].append(item.get("comment"))
                else:
                    self.posts.append(item)
            self._sort()
        return len(items)

    def spend(self, token: str) -> None:
        now = time.monotonic()
        with self._lock:
            calls = self.calls.setdefault(token, deque())
            while calls and now - calls[0] >= 60.0:
                calls.popleft()
            if len(calls) >= self.calls_per_minute:
                raise LinkedInError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Resource level throttle limit for calls to this resource is reached.",
                    101,
                )
            calls.append(now)


def check_request(request: Any) -> str:
    """The checks every LinkedIn REST call passes: a bearer token, an active ``LinkedIn-Version``
    and Rest.li protocol 2.0.0; returns the token (raises :class:`LinkedInError` otherwise)."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not token:
        raise LinkedInError(401, "EMPTY_ACCESS_TOKEN", "Empty oauth2 access token", 65604)
    if token.upper().startswith(("INVALID", "EXPIRED")):
        raise LinkedInError(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
    version = request.headers.get("linkedin-version", "")
    if not version:
        raise LinkedInError(
            400,
            "VERSION_MISSING",
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
            0,
        )
    if not _active(version):
        raise LinkedInError(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active", 0)
    if request.headers.get("x-restli-protocol-version") != "2.0.0":
        raise LinkedInError(
            400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version: 2.0.0 is required for this resource", 100
        )
    return token


def _paged(
    elements: list[Any], request: Request, default_count: int = 10, max_count: int = 100
) -> dict[str, Any]:
    params = request.query_params
    try:
        start = int(params.get("start", "0"))
        count = int(params.get("count", str(default_count)))
    except ValueError:
        raise LinkedInError(400, "ILLEGAL_ARGUMENT", "start and count must be integers", 100) from None
    if start < 0 or not 0 < count <= max_count:
        raise LinkedInError(
            400, "ILLEGAL_ARGUMENT", f"count must be between 1 and {max_count}; start 0 or more", 100
        )
    page = elements[start : start + count]
    links = []
    if start + count < len(elements):
        query = dict(params) | {"start": str(start + count), "count": str(count)}
        links.append(
            {"type": "application/json", "rel": "next", "href": f"{request.url.path}?{urlencode(query)}"}
        )
    if start > 0:
        query = dict(params) | {"start": str(max(0, start - count)), "count": str(count)}
        links.append(
            {"type": "application/json", "rel": "prev", "href": f"{request.url.path}?{urlencode(query)}"}
        )
    return {
        "elements": page,
        "paging": {"start": start, "count": count, "total": len(elements), "links": links},
    }


def _fault(request: Request) -> tuple[str, float] | None:
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return None
    targets = runtime.faults.targets
    if "linkedin" in targets:
        return runtime.draw_fault("linkedin")
    if set(sandbox_config.TARGETS) <= set(targets):  # faults on every API
        return runtime.draw_fault(targets[0])
    return None


def create_router(world_dir: Path) -> APIRouter:
    """The routes above over ``world_dir``; include it before the app's catch-all Graph route.

    The organisation's posts and comments are read here, before the server answers (as the
    Facebook page's are, see ``facebook_pages.create_router``).
    """
    social = LinkedInSocial(world_dir)
    social.load()
    router = APIRouter()

    async def gate(request: Request) -> Response | str:
        fault = _fault(request)
        if fault:
            kind, _ = fault
            runtime = request.app.state.runtime
            runtime.injected[kind] += 1
            if kind == "timeout":
                await asyncio.sleep(runtime.faults.timeout_seconds)
                return HTMLResponse(
                    "<html><body><h1>504 Gateway Time-out</h1></body></html>", status_code=504
                )
            if kind == "503":
                return HTMLResponse(
                    "<html><body><h1>503 Service Unavailable</h1></body></html>", status_code=503
                )
            if kind in ("429", "graph_rate_limit"):
                err = LinkedInError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Resource level throttle limit for calls to this resource is reached.",
                    101,
                )
            else:
                err = LinkedInError(500, "INTERNAL_SERVER_ERROR", "Internal Server Error", 0)
            return JSONResponse(err.body, status_code=err.status)
        token = check_request(request)
        social.load()
        social.spend(token)
        return token

    def handled(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                checked = await gate(request)
                if isinstance(checked, Response):
                    return checked
                body = fn(request)
                return JSONResponse(
                    body, headers={"x-li-uuid": uuid.uuid4().hex, "x-restli-protocol-version": "2.0.0"}
                )
            except LinkedInError as exc:
                return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

        return endpoint

    def posts(request: Request) -> dict[str, Any]:
        p = request.query_params
        if p.get("q") != "author" or not p.get("author"):
            raise LinkedInError(
                400, "ILLEGAL_ARGUMENT", "q=author and author=<organization urn> are required", 100
            )
        elements = [post for post in social.posts if post.get("author") == p["author"]]
        if p.get("sortBy") == "LAST_MODIFIED":
            elements.sort(key=lambda x: x.get("lastModifiedAt") or 0, reverse=True)
        return _paged(elements, request)

    def comments(request: Request) -> dict[str, Any]:
        target = request.path_params["target"]
        if not target.startswith(("urn:li:share:", "urn:li:ugcPost:", "urn:li:activity:")):
            raise LinkedInError(
                400, "ILLEGAL_ARGUMENT", "the target must be a share, ugcPost or activity URN", 100
            )
        key = target
        if target.startswith("urn:li:activity:"):
            key = "urn:li:share:" + target.rsplit(":", 1)[1]
        known = key in social.comments or any(post.get("id") == key for post in social.posts)
        if not known:
            raise LinkedInError(404, "NOT_FOUND", f"Not Found: {target}", 0)
        return _paged(list(social.comments.get(key, [])), request, max_count=100)

    def follower_statistics(request: Request) -> dict[str, Any]:
        p = request.query_params
        entity = p.get("organizationalEntity", "")
        if p.get("q") != "organizationalEntity" or not entity.startswith("urn:li:organization:"):
            raise LinkedInError(
                400,
                "ILLEGAL_ARGUMENT",
                "q=organizationalEntity and organizationalEntity=<organization urn> are required",
                100,
            )
        if p.get("timeIntervals"):
            raise LinkedInError(
                400, "ILLEGAL_ARGUMENT", "time-bound statistics are not served by the sandbox", 100
            )
        if entity != social.followers.get("organizationalEntity"):
            raise LinkedInError(
                403, "ACCESS_DENIED", f"Not enough permissions to access: organization {entity}", 100
            )
        return {"elements": [social.followers], "paging": {"start": 0, "count": 10, "links": []}}

    def geo(request: Request) -> dict[str, Any]:
        gid = request.path_params["geo_id"]
        name = social.geo.get(f"urn:li:geo:{gid}")
        if name is None:
            raise LinkedInError(404, "NOT_FOUND", f"Not Found: geo {gid}", 0)
        return {
            "id": int(gid) if gid.isdigit() else gid,
            "defaultLocalizedName": {"locale": {"language": "en", "country": "US"}, "value": name},
        }

    router.add_api_route("/rest/posts", handled(posts), methods=["GET"])
    router.add_api_route("/rest/socialActions/{target:path}/comments", handled(comments), methods=["GET"])
    router.add_api_route(
        "/rest/organizationalEntityFollowerStatistics", handled(follower_statistics), methods=["GET"]
    )
    router.add_api_route("/rest/geo/{geo_id}", handled(geo), methods=["GET"])

    @router.post("/_sandbox/social/linkedin/{dataset}")
    async def plant(dataset: str, request: Request) -> Any:
        body = json.loads(await request.body() or b"{}")
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or dataset not in ("posts", "comments"):
            return JSONResponse(
                {"error": 'POST {"items": [...]} to /_sandbox/social/linkedin/{posts|comments}'},
                status_code=400,
            )
        return {"planted": social.plant(dataset, items)}

    @router.post("/_sandbox/linkedin/config")
    async def set_config(request: Request) -> Any:
        body = json.loads(await request.body() or b"{}")
        value = body.get("calls_per_minute") if isinstance(body, dict) else None
        if not isinstance(value, int) or value < 1:
            return JSONResponse({"error": "calls_per_minute must be a positive integer"}, status_code=400)
        social.calls_per_minute = value
        with social._lock:
            social.calls.clear()
        return {"calls_per_minute": value}

    return router


def comments_path(post_urn: str) -> str:
    """``/rest/socialActions/{urn}/comments`` with the URN percent-encoded as LinkedIn expects."""
    return f"/rest/socialActions/{quote(post_urn, safe='')}/comments"
