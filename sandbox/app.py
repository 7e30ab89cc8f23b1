"""The sandbox HTTP app: HubSpot's contact search, the Graph API's custom audiences, and /_sandbox.

``create_app(world_dir, state_dir, faults=None)`` returns a FastAPI app. A pure
ASGI gate in front of it answers 414 for request lines longer than a real front
server accepts (before anything else, with an HTML page as nginx does), counts
requests per endpoint, and injects faults; a faulted request never reaches its
handler, so it changes no state.

Sandbox-only endpoints (never on the real services):

- ``GET /health``
- ``GET /_sandbox/facebook/audiences`` — every audience with its member count
- ``GET /_sandbox/facebook/audiences/{id}/members`` — stored key rows
  (``{"schema", "data"}``; ``?format=dicts`` for a list of dicts; ``limit``/``offset``)
- ``GET /_sandbox/linkedin/segments`` and ``/_sandbox/linkedin/segments/{id}/members`` —
  LinkedIn DMP segments and their members (:mod:`sandbox.linkedin_ads`)
- ``GET /_sandbox/facebook/audiences/{id}/received?op=add|remove|replace`` — how many
  times each member identity was received by that operation since the last reset
- ``GET /_sandbox/stats`` — requests per endpoint and status, faults injected
- ``POST /_sandbox/reset`` — drop all platform state (audiences, members, sessions,
  HubSpot changes, call budgets, stats)
- ``GET|POST /_sandbox/faults`` — read or set fault injection (FaultConfig fields)
- ``GET|POST /_sandbox/config`` — read or change limits (SandboxConfig fields)
- ``GET /_sandbox/world`` — the world's parameters
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from sandbox import eurostat, facebook_pages, insee, linkedin, linkedin_ads, salesforce
from sandbox.config import ConfigError, FaultConfig, SandboxConfig
from sandbox.graph import DISPLAY_ORDER, GraphAPI, GraphError, rate_limit_error, trace_id
from sandbox.hubspot import ContactStore, HubSpotError, deals_router, parse_search, validation_error
from sandbox.store import RECEIVED_OPS, StateStore
from sandbox.wire import JSONResponse as WireJSONResponse

log = logging.getLogger(__name__)

MAX_FORM_PART_BYTES = 64 * 1024 * 1024
GRAPH_PATH = re.compile(r"^/(v\d+\.\d+)(?:/(.*))?$")
HTML_414 = (
    "<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
HTML_503 = (
    "<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>"
)
HTML_504 = (
    "<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>"
)


def endpoint_key(method: str, path: str) -> str:
    """A request's endpoint with ids replaced, for the stats."""
    m = GRAPH_PATH.match(path)
    if m:
        rest = (m.group(2) or "").rstrip("/")
        parts = [
            "act_{id}" if p.startswith("act_") else "{id}" if p.isdigit() else p for p in rest.split("/")
        ]
        return f"{method} /{{v}}/" + "/".join(parts)
    if path.startswith("/crm/v3/objects/contacts/") and not path.endswith("/search"):
        return f"{method} /crm/v3/objects/contacts/{{id}}"
    if path.startswith("/_sandbox/facebook/audiences/"):
        return f"{method} /_sandbox/facebook/audiences/{{id}}/" + path.rstrip("/").rsplit("/", 1)[-1]
    if path.startswith("/rest/dmpSegments/"):
        parts = ["{id}" if p.isdigit() else p for p in path.split("/")]
        return f"{method} " + "/".join(parts)
    if path.startswith("/_sandbox/linkedin/segments/"):
        return f"{method} /_sandbox/linkedin/segments/{{id}}/members"
    return f"{method} {path}"


def api_target(path: str) -> str | None:
    if path.startswith("/crm/"):
        return "hubspot"
    if GRAPH_PATH.match(path):
        return "graph"
    if path == "/rest/dmpSegments" or path.startswith("/rest/dmpSegments/"):
        return "linkedin_ads"
    return None


class Runtime:
    """Mutable server-wide settings and counters, shared by the gate and the handlers."""

    def __init__(self, faults: FaultConfig | None, config: SandboxConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self.set_faults(faults or FaultConfig())
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.by_endpoint: dict[str, Counter[str]] = {}
        self.injected: Counter[str] = Counter()
        self.search_calls: dict[str, deque[float]] = {}

    def set_faults(self, faults: FaultConfig) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def draw_fault(self, target: str) -> tuple[str, float] | None:
        """The fault to inject into this request (and a uniform draw for its variant), or None."""
        with self._lock:
            f = self.faults
            if f.rate <= 0 or target not in f.targets:
                return None
            if self._rng.random() >= f.rate:
                return None
            return self._rng.choice(f.kinds), self._rng.random()

    def record(self, key: str, status: int, fault: str | None = None) -> None:
        with self._lock:
            self.requests[key] += 1
            self.statuses[str(status)] += 1
            self.by_endpoint.setdefault(key, Counter())[str(status)] += 1
            if fault:
                self.injected[fault] += 1

    def reset_stats(self) -> None:
        with self._lock:
            self.requests.clear()
            self.statuses.clear()
            self.by_endpoint.clear()
            self.injected.clear()
            self.search_calls.clear()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self.requests.values()),
                "requests": dict(self.requests),
                "statuses": dict(self.statuses),
                "by_endpoint": {k: dict(v) for k, v in self.by_endpoint.items()},
                "faults_injected": dict(self.injected),
            }

    def search_allowed(self, token: str) -> bool:
        """HubSpot's per-second search limit (off when hubspot_search_per_second is 0)."""
        limit = self.config.hubspot_search_per_second
        if limit <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            calls = self.search_calls.setdefault(token, deque())
            while calls and now - calls[0] >= 1.0:
                calls.popleft()
            if len(calls) >= limit:
                return False
            calls.append(now)
            return True


def _hubspot_rate_limited() -> JSONResponse:
    return JSONResponse(
        {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "SECONDLY",
            "groupName": "publicapi:search",
        },
        status_code=429,
        headers={"Retry-After": "1"},
    )


def _fault_response(kind: str, variant: float, target: str, config: SandboxConfig) -> Response:
    if kind == "503":
        return HTMLResponse(HTML_503, status_code=503)
    if kind == "timeout":
        return HTMLResponse(HTML_504, status_code=504)
    if target == "linkedin_ads":
        if kind in ("429", "graph_rate_limit"):
            err = linkedin_ads.too_many_requests()
        else:
            err = linkedin.LinkedInError(500, "INTERNAL_SERVER_ERROR", "Internal Server Error", 0)
        return JSONResponse(err.body, status_code=err.status)
    if target == "hubspot":
        if kind in ("429", "graph_rate_limit"):
            return _hubspot_rate_limited()
        return JSONResponse(
            {
                "status": "error",
                "message": "internal error",
                "correlationId": str(uuid.uuid4()),
                "category": "INTERNAL_ERROR",
            },
            status_code=500,
        )
    if kind == "429":
        err = rate_limit_error(4, 429)
    elif kind == "graph_rate_limit":
        err = rate_limit_error((17, 613, 80003)[int(variant * 3)], config.rate_limit_status)
    else:
        err = GraphError(1, "An unknown error occurred", subcode=99, status=500, transient=True)
    return JSONResponse(err.body, status_code=err.status, headers=err.headers)


class Gate:
    """Pure ASGI middleware: request-line limit, stats, fault injection."""

    def __init__(self, app: Any, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        raw_path = scope.get("raw_path") or path.encode()
        query = scope.get("query_string") or b""
        line = len(method) + 1 + len(raw_path) + (1 + len(query) if query else 0) + len(" HTTP/1.1")
        key = endpoint_key(method, path)
        if line > self.runtime.config.max_request_line:
            self.runtime.record(key, 414)
            await HTMLResponse(HTML_414, status_code=414)(scope, receive, send)
            return
        target = api_target(path)
        fault = self.runtime.draw_fault(target) if target else None
        if fault:
            kind, variant = fault
            if kind == "timeout":
                await asyncio.sleep(self.runtime.faults.timeout_seconds)
            response = _fault_response(kind, variant, target or "", self.runtime.config)
            self.runtime.record(key, response.status_code, fault=kind)
            await response(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.runtime.record(key, status["code"])


async def _graph_params(request: Request) -> dict[str, str]:
    """Query string and body parameters, as Graph reads them (body wins)."""
    params = dict(request.query_params)
    ctype = request.headers.get("content-type", "")
    if request.method in ("POST", "DELETE"):
        if ctype.startswith("multipart/form-data"):
            # Graph takes parameters as multipart fields too (what the SDK sends with files);
            # a customer-list payload of 10,000 digest rows is a few MB in one field.
            form = await request.form(max_part_size=MAX_FORM_PART_BYTES)
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            raw = await request.body()
            if raw:
                text = raw.decode("utf-8", errors="replace")
                if ctype.startswith("application/json"):
                    try:
                        data = json.loads(text)
                    except json.JSONDecodeError:
                        raise GraphError(100, "(#100) The request body is not valid JSON") from None
                    if isinstance(data, dict):
                        # objects and lists stay decoded (parse_json_param takes them as they are)
                        params.update({k: _json_param(v) for k, v in data.items()})
                else:
                    params.update(dict(parse_qsl(text, keep_blank_values=True)))
    return params


def _json_param(value: Any) -> Any:
    """A JSON body's value as Graph reads it: scalars as their text, objects and lists kept."""
    if isinstance(value, (dict, list)):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _members_view(rows: list[dict[str, str]], fmt: str) -> dict[str, Any]:
    if fmt == "dicts":
        return {"members": rows}
    present = {k for row in rows for k in row}
    schema = [k for k in DISPLAY_ORDER if k in present] + sorted(present - set(DISPLAY_ORDER))
    return {"schema": schema, "data": [[row.get(k, "") for k in schema] for row in rows]}


def create_app(
    world_dir: Path,
    state_dir: Path,
    faults: FaultConfig | None = None,
    *,
    config: SandboxConfig | None = None,
) -> FastAPI:
    """The sandbox app over ``world_dir`` (read only) with its state in ``state_dir``."""
    world_dir, state_dir = Path(world_dir), Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime(faults, config or SandboxConfig.from_env())
    store = StateStore(state_dir)
    contacts = ContactStore(world_dir, store, state_dir)
    graph = GraphAPI(store, lambda: runtime.config)
    app = FastAPI(
        title="audience sandbox",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.store = store
    app.state.contacts = contacts
    app.state.graph = graph
    log.info("sandbox: %d HubSpot contacts from %s; state in %s", contacts.count, world_dir, state_dir)

    @app.exception_handler(HubSpotError)
    async def _hubspot_error(_: Request, exc: HubSpotError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(GraphError)
    async def _graph_error(_: Request, exc: GraphError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ConfigError)
    async def _config_error(_: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "contacts": contacts.count}

    # -- HubSpot ------------------------------------------------------------------------------
    def _hubspot_auth(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token:
            raise HubSpotError(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        return token

    @app.post("/crm/v3/objects/contacts/search")
    async def hubspot_search(request: Request) -> Response:
        token = _hubspot_auth(request)
        if not runtime.search_allowed(token):
            return _hubspot_rate_limited()
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            raise validation_error(
                f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        req = parse_search(body, runtime.config.hubspot_max_results)
        return WireJSONResponse(await run_in_threadpool(contacts.search, req))

    def _contact_id(raw: str) -> int:
        if not raw.isdigit():
            raise HubSpotError(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [raw]},
            )
        return int(raw)

    @app.get("/crm/v3/objects/contacts/{contact_id}")
    async def hubspot_get(contact_id: str, request: Request) -> Response:
        _hubspot_auth(request)
        obj = await run_in_threadpool(contacts.get, _contact_id(contact_id))
        if obj is None:
            raise HubSpotError(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [contact_id]},
            )
        wanted = request.query_params.get("properties")
        names = tuple(p for p in wanted.split(",") if p) if wanted else None
        return JSONResponse(contacts.project(obj, names))

    @app.patch("/crm/v3/objects/contacts/{contact_id}")
    async def hubspot_update(contact_id: str, request: Request) -> Response:
        _hubspot_auth(request)
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            raise validation_error(f"Invalid input JSON: {exc.msg}") from None
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict):
            raise validation_error('the body must be {"properties": {...}}')
        obj = await run_in_threadpool(contacts.update, _contact_id(contact_id), props)
        if obj is None:
            raise HubSpotError(
                404,
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [contact_id]},
            )
        return JSONResponse(contacts.project(obj, tuple(obj.get("properties") or {})))

    app.include_router(
        deals_router(world_dir, store, state_dir, runtime, _hubspot_auth, _hubspot_rate_limited)
    )
    app.include_router(salesforce.router(world_dir, runtime))
    app.include_router(insee.make_router(runtime))
    app.include_router(eurostat.make_router(runtime))
    app.include_router(facebook_pages.create_router(world_dir))  # before the Graph catch-all
    app.include_router(linkedin.create_router(world_dir))
    dmp_router, dmp_segments = linkedin_ads.create_router(lambda: runtime.config)
    app.include_router(dmp_router)
    app.state.dmp_segments = dmp_segments

    # -- sandbox-only -------------------------------------------------------------------------
    @app.get("/_sandbox/facebook/audiences")
    async def sandbox_audiences(include_deleted: bool = False) -> dict[str, Any]:
        def collect() -> list[dict[str, Any]]:
            counts = store.member_counts()
            return [
                {
                    "id": str(a["id"]),
                    "account_id": a["account_id"],
                    "name": a["name"],
                    "description": a["description"],
                    "subtype": a["subtype"],
                    "customer_file_source": a["customer_file_source"],
                    "member_count": counts.get(a["id"], 0),
                    "deleted": bool(a["deleted"]),
                    "time_created": a["time_created"],
                    "time_content_updated": a["time_content_updated"],
                }
                for a in store.audiences(include_deleted=include_deleted)
            ]

        return {"audiences": await run_in_threadpool(collect)}

    @app.get("/_sandbox/facebook/audiences/{audience_id}/members")
    async def sandbox_members(
        audience_id: str, format: str = "rows", limit: int | None = None, offset: int = 0
    ) -> Response:
        if not audience_id.isdigit() or store.audience(int(audience_id)) is None:
            return JSONResponse({"error": f"no audience {audience_id} in the sandbox"}, status_code=404)
        rows = await run_in_threadpool(store.members, int(audience_id), limit, offset)
        return JSONResponse(
            {
                "audience_id": audience_id,
                "count": store.member_count(int(audience_id)),
                **_members_view(rows, format),
            }
        )

    @app.get("/_sandbox/facebook/audiences/{audience_id}/received")
    async def sandbox_received(audience_id: str, op: str = "add") -> Response:
        if not audience_id.isdigit() or op not in RECEIVED_OPS:
            return JSONResponse(
                {"error": f"audience id must be digits and op one of {', '.join(RECEIVED_OPS)}"},
                status_code=400,
            )
        counts = await run_in_threadpool(store.received, int(audience_id), op)
        return JSONResponse({"audience_id": audience_id, "op": op, "received": counts})

    @app.get("/_sandbox/stats")
    async def sandbox_stats() -> dict[str, Any]:
        return runtime.stats()

    @app.post("/_sandbox/reset")
    async def sandbox_reset() -> dict[str, Any]:
        await run_in_threadpool(store.reset)
        contacts.reset()
        graph.budget.reset()
        dmp_segments.reset()
        runtime.reset_stats()
        log.info("sandbox: state reset")
        return {"reset": True}

    @app.get("/_sandbox/faults")
    async def get_faults() -> dict[str, Any]:
        return runtime.faults.to_dict()

    @app.post("/_sandbox/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        body = json.loads(await request.body() or b"{}")
        runtime.set_faults(FaultConfig.from_dict(body))
        log.info("sandbox: faults set to rate %.3f %s", runtime.faults.rate, ",".join(runtime.faults.kinds))
        return runtime.faults.to_dict()

    @app.get("/_sandbox/config")
    async def get_config() -> dict[str, Any]:
        return runtime.config.to_dict()

    @app.post("/_sandbox/config")
    async def set_config(request: Request) -> dict[str, Any]:
        body = json.loads(await request.body() or b"{}")
        runtime.config = SandboxConfig.from_dict(body, base=runtime.config)
        return runtime.config.to_dict()

    @app.get("/_sandbox/world")
    async def sandbox_world() -> dict[str, Any]:
        meta = world_dir / "world.json"
        data = json.loads(meta.read_text()) if meta.exists() else {}
        return {**data, "contacts_served": contacts.count, "world_dir": str(world_dir)}

    # -- Graph API (last: its path pattern is the broadest) -------------------------------------
    @app.api_route("/{version}/{rest:path}", methods=["GET", "POST", "DELETE"])
    @app.api_route("/{version}", methods=["GET", "POST", "DELETE"])
    async def graph_api(version: str, request: Request, rest: str = "") -> Response:
        if not re.fullmatch(r"v\d+\.\d+", version):
            return JSONResponse(
                {
                    "error": {
                        "message": f"Unknown path: {request.url.path}",
                        "type": "OAuthException",
                        "code": 2500,
                        "fbtrace_id": trace_id(),
                    }
                },
                status_code=404,
            )
        params = await _graph_params(request)
        parts = [p for p in rest.split("/") if p]
        base = str(request.base_url).rstrip("/")
        resp = await run_in_threadpool(graph.handle, request.method, version, parts, params, base)
        return JSONResponse(resp.body, status_code=resp.status, headers=resp.headers)

    app.add_middleware(Gate, runtime=runtime)
    return app
