"""LinkedIn Marketing API: matched audiences (DMP segments), stateful.

Same gate as :mod:`sandbox.linkedin` (``Authorization: Bearer``, an active
``LinkedIn-Version: YYYYMM`` else 426 ``NONEXISTENT_VERSION``,
``X-Restli-Protocol-Version: 2.0.0``), LinkedIn's error shape
``{"status", "serviceErrorCode", "code", "message"}``.

- ``POST /rest/dmpSegments`` ``{"name", "sourcePlatform", "account":
  "urn:li:sponsoredAccount:<n>", "accessPolicy", "type", "destinations"}`` →
  201, empty body, the id in ``x-restli-id``.
- ``GET /rest/dmpSegments?q=account&account=<urn>&start=&count=`` →
  ``{"elements", "paging": {"start", "count", "total"}}``; ``GET /rest/dmpSegments/{id}``.
- ``POST /rest/dmpSegments/{id}/users`` with ``X-RestLi-Method: BATCH_CREATE`` and
  ``{"elements": [{"action": "ADD"|"REMOVE", "userIds": [{"idType", "idValue"}],
  "firstName"?, "lastName"?, ...}]}`` → 200 ``{"elements": [{"status": 201}, ...]}``,
  one status per element (an element it cannot read gets 400 and a message;
  adding twice or removing an absent id is still 201). At most
  ``linkedin_max_elements`` (5,000) elements a call, else 400 for the call.
- Call budget: ``linkedin_calls_per_minute`` (600) calls on ``/users`` per
  token per sliding minute; beyond, 429 ``TOO_MANY_REQUESTS`` in LinkedIn's shape.

Faults (the app's gate, target ``linkedin_ads``) never reach these handlers.

Sandbox only: ``GET /_sandbox/linkedin/segments`` (every segment, member
count, elements received), ``GET /_sandbox/linkedin/segments/{id}/members``
(``{"members": [{"idType", "idValue", "firstName"?, "lastName"?}]}``).
``POST /_sandbox/reset`` empties it (:meth:`DmpSegments.reset`).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.config import SandboxConfig
from sandbox.linkedin import LinkedInError, check_request

ACCOUNT_URN = re.compile(r"^urn:li:sponsoredAccount:(\d+)$")
ID_TYPES = ("SHA256_EMAIL", "SHA512_EMAIL", "GOOGLE_AID")
_HEX = {"SHA256_EMAIL": re.compile(r"^[0-9a-f]{64}$"), "SHA512_EMAIL": re.compile(r"^[0-9a-f]{128}$")}
SEGMENT_TYPES = ("USER", "COMPANY")
FIRST_SEGMENT_ID = 7_000_001


def too_many_requests() -> LinkedInError:
    return LinkedInError(
        429, "TOO_MANY_REQUESTS", "Resource level throttle limit for calls to this resource is reached.", 101
    )


class DmpSegments:
    """Segments and their members, in memory (the sandbox is one process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.segments: dict[int, dict[str, Any]] = {}
            self.members: dict[int, dict[tuple[str, str], dict[str, str]]] = {}
            self.received: dict[int, dict[str, int]] = {}
            self.calls: dict[str, deque[float]] = {}
            self._next = FIRST_SEGMENT_ID

    def spend(self, token: str, per_minute: int) -> None:
        now = time.monotonic()
        with self._lock:
            calls = self.calls.setdefault(token, deque())
            while calls and now - calls[0] >= 60.0:
                calls.popleft()
            if len(calls) >= per_minute:
                raise too_many_requests()
            calls.append(now)

    def create(self, body: dict[str, Any]) -> int:
        name = body.get("name")
        account = body.get("account")
        if not isinstance(name, str) or not name.strip():
            raise LinkedInError(422, "FIELD_VALUE_REQUIRED", "/name: field is required", 100)
        if not isinstance(account, str) or not ACCOUNT_URN.match(account):
            raise LinkedInError(422, "INVALID_VALUE", "/account: must be an urn:li:sponsoredAccount URN", 100)
        kind = body.get("type", "USER")
        if kind not in SEGMENT_TYPES:
            raise LinkedInError(
                422, "INVALID_VALUE", f"/type: must be one of {', '.join(SEGMENT_TYPES)}", 100
            )
        if not isinstance(body.get("sourcePlatform"), str):
            raise LinkedInError(422, "FIELD_VALUE_REQUIRED", "/sourcePlatform: field is required", 100)
        destinations = body.get("destinations") or [{"destination": "LINKEDIN"}]
        with self._lock:
            segment_id = self._next
            self._next += 1
            now = int(time.time() * 1000)
            self.segments[segment_id] = {
                "id": segment_id,
                "name": name,
                "account": account,
                "type": kind,
                "accessPolicy": body.get("accessPolicy", "PRIVATE"),
                "sourcePlatform": body["sourcePlatform"],
                "sourceSegmentId": body.get("sourceSegmentId"),
                "destinations": [
                    {**d, "status": "READY", "matchedCount": 0} for d in destinations if isinstance(d, dict)
                ],
                "created": now,
                "lastModified": now,
            }
            self.members[segment_id] = {}
            self.received[segment_id] = {"ADD": 0, "REMOVE": 0, "calls": 0}
        return segment_id

    def view(self, segment_id: int) -> dict[str, Any]:
        segment = self.segments[segment_id]
        count = len(self.members[segment_id])
        return {
            **segment,
            "destinations": [{**d, "matchedCount": count} for d in segment["destinations"]],
        }

    def find(self, account: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self.view(i) for i, s in sorted(self.segments.items()) if s["account"] == account]

    def apply(self, segment_id: int, elements: list[Any]) -> list[dict[str, Any]]:
        """Apply each element; one status per element, in order."""
        statuses: list[dict[str, Any]] = []
        with self._lock:
            held = self.members[segment_id]
            received = self.received[segment_id]
            received["calls"] += 1
            for element in elements:
                problem = _element_problem(element)
                if problem:
                    statuses.append({"status": 400, "error": {"status": 400, "message": problem}})
                    continue
                action = element["action"]
                received[action] += 1
                for uid in element["userIds"]:
                    key = (uid["idType"], uid["idValue"])
                    if action == "ADD":
                        extra = {k: element[k] for k in ("firstName", "lastName") if element.get(k)}
                        held[key] = {"idType": key[0], "idValue": key[1], **extra}
                    else:
                        held.pop(key, None)
                statuses.append({"status": 201})
            self.segments[segment_id]["lastModified"] = int(time.time() * 1000)
        return statuses


def _element_problem(element: Any) -> str | None:
    """Why an element cannot be applied (never quoting its values), or None."""
    if not isinstance(element, dict):
        return "element must be an object"
    if element.get("action") not in ("ADD", "REMOVE"):
        return "/action: must be ADD or REMOVE"
    ids = element.get("userIds")
    if not isinstance(ids, list) or not ids:
        return "/userIds: at least one user id is required"
    for uid in ids:
        if not isinstance(uid, dict) or uid.get("idType") not in ID_TYPES:
            return f"/userIds/idType: must be one of {', '.join(ID_TYPES)}"
        value = uid.get("idValue")
        pattern = _HEX.get(uid["idType"])
        if not isinstance(value, str) or not value or (pattern and not pattern.match(value)):
            return f"/userIds/idValue: not a valid {uid['idType']} value"
    for key in ("firstName", "lastName", "title", "company", "country"):
        if key in element and not isinstance(element[key], str):
            return f"/{key}: must be a string"
    return None


def create_router(config: Callable[[], SandboxConfig]) -> tuple[APIRouter, DmpSegments]:
    """The routes above; ``config()`` gives the current limits. Include before the Graph catch-all."""
    state = DmpSegments()
    router = APIRouter()

    def gate(request: Request) -> str:
        return check_request(request)

    async def json_body(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LinkedInError(400, "ILLEGAL_ARGUMENT", "the request body is not valid JSON", 100) from None

    def segment_of(raw: str) -> int:
        if not raw.isdigit() or int(raw) not in state.segments:
            raise LinkedInError(404, "NOT_FOUND", f"Not Found: dmpSegment {raw}", 0)
        return int(raw)

    def answer(fn: Callable[..., Any]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            try:
                return await fn(request, gate(request))
            except LinkedInError as exc:
                return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

        return endpoint

    def headers(**extra: str) -> dict[str, str]:
        return {"x-li-uuid": uuid.uuid4().hex, "x-restli-protocol-version": "2.0.0", **extra}

    async def create(request: Request, token: str) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise LinkedInError(400, "ILLEGAL_ARGUMENT", "the body must be a JSON object", 100)
        segment_id = state.create(body)
        return Response(status_code=201, headers=headers(**{"x-restli-id": str(segment_id)}))

    async def find(request: Request, token: str) -> Response:
        p = request.query_params
        account = p.get("account", "")
        if p.get("q") != "account" or not ACCOUNT_URN.match(account):
            raise LinkedInError(
                400,
                "ILLEGAL_ARGUMENT",
                "q=account and account=urn:li:sponsoredAccount:<id> are required",
                100,
            )
        try:
            start, count = int(p.get("start", "0")), int(p.get("count", "100"))
        except ValueError:
            raise LinkedInError(400, "ILLEGAL_ARGUMENT", "start and count must be integers", 100) from None
        if start < 0 or not 0 < count <= 1000:
            raise LinkedInError(
                400, "ILLEGAL_ARGUMENT", "count must be between 1 and 1000; start 0 or more", 100
            )
        found = state.find(account)
        return JSONResponse(
            {
                "elements": found[start : start + count],
                "paging": {"start": start, "count": count, "total": len(found)},
            },
            headers=headers(),
        )

    async def get_one(request: Request, token: str) -> Response:
        segment_id = segment_of(request.path_params["segment_id"])
        return JSONResponse(state.view(segment_id), headers=headers())

    async def users(request: Request, token: str) -> Response:
        segment_id = segment_of(request.path_params["segment_id"])
        state.spend(token, config().linkedin_calls_per_minute)
        if request.headers.get("x-restli-method", "").upper() != "BATCH_CREATE":
            raise LinkedInError(
                400, "ILLEGAL_ARGUMENT", "X-RestLi-Method: BATCH_CREATE is required to stream users", 100
            )
        body = await json_body(request)
        elements = body.get("elements") if isinstance(body, dict) else None
        if not isinstance(elements, list) or not elements:
            raise LinkedInError(400, "ILLEGAL_ARGUMENT", "/elements: a non-empty list is required", 100)
        cap = config().linkedin_max_elements
        if len(elements) > cap:
            raise LinkedInError(
                400,
                "ILLEGAL_ARGUMENT",
                f"/elements: at most {cap} elements per request, got {len(elements)}",
                100,
            )
        return JSONResponse({"elements": state.apply(segment_id, elements)}, headers=headers())

    router.add_api_route("/rest/dmpSegments", answer(create), methods=["POST"])
    router.add_api_route("/rest/dmpSegments", answer(find), methods=["GET"])
    router.add_api_route("/rest/dmpSegments/{segment_id}", answer(get_one), methods=["GET"])
    router.add_api_route("/rest/dmpSegments/{segment_id}/users", answer(users), methods=["POST"])

    @router.get("/_sandbox/linkedin/segments")
    async def sandbox_segments() -> dict[str, Any]:
        with state._lock:
            return {
                "segments": [
                    {
                        "id": str(i),
                        "name": s["name"],
                        "account": s["account"],
                        "member_count": len(state.members[i]),
                        "received": dict(state.received[i]),
                    }
                    for i, s in sorted(state.segments.items())
                ]
            }

    @router.get("/_sandbox/linkedin/segments/{segment_id}/members")
    async def sandbox_members(segment_id: str) -> Response:
        if not segment_id.isdigit() or int(segment_id) not in state.segments:
            return JSONResponse({"error": f"no DMP segment {segment_id} in the sandbox"}, status_code=404)
        with state._lock:
            rows = list(state.members[int(segment_id)].values())
        return JSONResponse({"segment_id": segment_id, "count": len(rows), "members": rows})

    return router, state
