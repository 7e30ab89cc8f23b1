"""Salesforce's REST query API (SOQL), as the sandbox serves it from the world's Salesforce files.

- ``GET /services/data/vXX.X/query?q=<SOQL>`` and ``GET /services/data/vXX.X/query/<locator>-<offset>``
  (the ``nextRecordsUrl`` of the previous page).
- ``Authorization: Bearer <session id>`` is required; without it, 401
  ``[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]``.
- The SOQL grammar is the one an incremental extract needs, parsed strictly:
  ``SELECT f1, f2 FROM Contact|Lead|Opportunity [WHERE SystemModstamp >|>= <datetime>]
  ORDER BY SystemModstamp [ASC], Id [ASC]``. Anything else is a 400 ``MALFORMED_QUERY``; an
  unknown object ``INVALID_TYPE``; an unknown field ``INVALID_FIELD`` (errors are
  JSON arrays, as Salesforce answers).
- Pages of 2,000 records (``Sforce-Query-Options: batchSize=200..2000`` lowers it), answer
  ``{"totalSize", "done", "records": [{"attributes": {"type", "url"}, ...}], "nextRecordsUrl"}``.
- Fault injection (target ``salesforce``) happens here, before the handler: 429, 500
  (``UNKNOWN_EXCEPTION``), 503 (HTML) and 504 after a delay, like the other twins.

Records are read from the world files by byte offset; only an index (stamp, id,
offset, length) is held in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from sandbox.wire import JSONResponse

OBJECT_FILES = {
    "Contact": "salesforce_contacts.jsonl",
    "Lead": "salesforce_leads.jsonl",
    "Opportunity": "salesforce_opportunities.jsonl",
}
COMMON_FIELDS = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted")
OBJECT_FIELDS = {
    "Contact": COMMON_FIELDS
    + (
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Phone",
        "MailingPostalCode",
        "MailingCity",
        "MailingCountry",
        "Birthdate",
        "HasOptedOutOfEmail",
        "LeadSource",
        "AccountId",
    ),
    "Lead": COMMON_FIELDS
    + (
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Phone",
        "Company",
        "PostalCode",
        "City",
        "Country",
        "HasOptedOutOfEmail",
        "LeadSource",
        "Status",
        "IsConverted",
    ),
    "Opportunity": COMMON_FIELDS
    + (
        "Name",
        "ContactId",
        "AccountId",
        "Amount",
        "StageName",
        "Probability",
        "CloseDate",
        "IsClosed",
        "IsWon",
    ),
}
DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_LOCATORS = 1000
DATETIME = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})"
SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>\w+(?:\s*,\s*\w+)*)\s+FROM\s+(?P<object>\w+)"
    rf"(?:\s+WHERE\s+SystemModstamp\s*(?P<op>>=|>)\s*(?P<since>{DATETIME}))?"
    r"\s+ORDER\s+BY\s+SystemModstamp(?:\s+ASC)?\s*,\s*Id(?:\s+ASC)?\s*$",
    re.IGNORECASE,
)
LOCATOR = re.compile(r"^(?P<locator>01g[0-9A-Za-z]{15})-(?P<offset>\d+)$")
VERSION = re.compile(r"^v\d{2}\.\d$")


class SalesforceError(Exception):
    """An error answer in Salesforce's shape: a JSON array of {message, errorCode}."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = [{"message": message, "errorCode": error_code}]


def _ms(text: str) -> int:
    value = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = f"{value[:-2]}:{value[-2:]}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


@dataclass
class _Table:
    """One object's records in (SystemModstamp, Id) order: stamps and ids in memory, bodies on disk."""

    path: Path
    stamps: np.ndarray
    ids: list[str]
    offsets: np.ndarray
    lengths: np.ndarray

    @classmethod
    def load(cls, path: Path) -> _Table:
        rows: list[tuple[int, str, int, int]] = []
        if path.exists():
            pos = 0
            with open(path, "rb") as fh:
                for line_no, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            obj = json.loads(line)
                            rows.append((_ms(obj["SystemModstamp"]), str(obj["Id"]), pos, len(line)))
                        except (ValueError, KeyError, TypeError):
                            # a malformed record is served as is, sorted first: the connector must reject it
                            rows.append((0, f"~{line_no:012d}", pos, len(line)))
                    pos += len(line)
        rows.sort()
        return cls(
            path,
            np.array([r[0] for r in rows], dtype=np.int64),
            [r[1] for r in rows],
            np.array([r[2] for r in rows], dtype=np.int64),
            np.array([r[3] for r in rows], dtype=np.int64),
        )


@dataclass(frozen=True)
class _Query:
    object: str
    fields: tuple[str, ...]
    start: int  # first position in the table
    stop: int


def parse_soql(soql: str, tables: dict[str, _Table]) -> _Query:
    """The positions a query selects; SalesforceError(400) for anything outside the supported grammar."""
    m = SOQL.match(soql or "")
    if not m:
        raise SalesforceError(
            400,
            "MALFORMED_QUERY",
            "unexpected token in query: the sandbox understands SELECT <fields> FROM <object> "
            "[WHERE SystemModstamp > <datetime>] ORDER BY SystemModstamp, Id",
        )
    name = next((o for o in OBJECT_FIELDS if o.lower() == m["object"].lower()), None)
    if name is None:
        raise SalesforceError(
            400,
            "INVALID_TYPE",
            f"sObject type '{m['object']}' is not supported. If you are attempting to use a custom object, "
            "be sure to append the '__c' after the entity name.",
        )
    known = {f.lower(): f for f in OBJECT_FIELDS[name]}
    fields: list[str] = []
    for raw in (f.strip() for f in m["fields"].split(",")):
        field = known.get(raw.lower())
        if field is None:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"No such column '{raw}' on entity '{name}'. If you are attempting to use a custom field, "
                "be sure to append the '__c' after the custom field name.",
            )
        fields.append(field)
    table = tables[name]
    start = 0
    if m["since"]:
        try:
            since = _ms(m["since"])
        except ValueError:
            raise SalesforceError(400, "MALFORMED_QUERY", f"invalid datetime literal {m['since']}") from None
        side = "right" if m["op"] == ">" else "left"
        start = int(np.searchsorted(table.stamps, since, side=side))
        # malformed records (stamp 0) are never after a watermark; they only show in full extracts
    return _Query(name, tuple(fields), start, len(table.ids))


class SalesforceOrg:
    """The world's Salesforce org: the three objects and the open query locators."""

    def __init__(self, world_dir: Path) -> None:
        self.tables = {name: _Table.load(Path(world_dir) / file) for name, file in OBJECT_FILES.items()}
        self._locators: OrderedDict[str, _Query] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, name: str) -> int:
        return len(self.tables[name].ids)

    def _page(self, version: str, query: _Query, offset: int, batch: int) -> dict[str, Any]:
        table = self.tables[query.object]
        first = query.start + offset
        last = min(query.stop, first + batch)
        records: list[dict[str, Any]] = []
        with open(table.path, "rb") as fh:
            fd = fh.fileno()
            for pos in range(first, last):
                raw = os.pread(fd, int(table.lengths[pos]), int(table.offsets[pos]))
                try:
                    obj = json.loads(raw)
                except ValueError:
                    records.append(
                        {"attributes": {"type": query.object}, "_raw": raw.decode("utf-8", "replace")}
                    )
                    continue
                rec: dict[str, Any] = {
                    "attributes": {
                        "type": query.object,
                        "url": f"/services/data/{version}/sobjects/{query.object}/{obj.get('Id')}",
                    }
                }
                for field in query.fields:
                    if field == "Name" and "Name" not in obj and "LastName" in obj:
                        rec[field] = " ".join(p for p in (obj.get("FirstName"), obj.get("LastName")) if p)
                    else:
                        rec[field] = obj.get(field)
                records.append(rec)
        total = query.stop - query.start
        out: dict[str, Any] = {"totalSize": total, "done": last >= query.stop, "records": records}
        if last < query.stop:
            locator = self._remember(query)
            out["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{last - query.start}"
        return out

    def _remember(self, query: _Query) -> str:
        with self._lock:
            for key, known in self._locators.items():
                if known is query:
                    return key
            key = "01g" + uuid.uuid4().hex[:15].upper()
            self._locators[key] = query
            while len(self._locators) > MAX_LOCATORS:
                self._locators.popitem(last=False)
            return key

    def query(self, version: str, soql: str, batch: int) -> dict[str, Any]:
        return self._page(version, parse_soql(soql, self.tables), 0, batch)

    def query_more(self, version: str, locator: str, batch: int) -> dict[str, Any]:
        m = LOCATOR.match(locator)
        with self._lock:
            query = self._locators.get(m["locator"]) if m else None
        if m is None or query is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, query, int(m["offset"]), batch)


def _batch_size(header: str | None) -> int:
    """``Sforce-Query-Options: batchSize=N`` (200..2000; Salesforce may round it)."""
    if not header:
        return DEFAULT_BATCH
    m = re.search(r"batchSize\s*=\s*(\d+)", header)
    if not m:
        return DEFAULT_BATCH
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(m[1])))


def router(world_dir: Path, runtime: Any) -> Any:
    """The Salesforce routes, with their own fault injection (target ``salesforce``)."""
    org = SalesforceOrg(world_dir)
    api = APIRouter()

    async def guard(request: Request, version: str) -> Response | None:
        fault = runtime.draw_fault("salesforce")
        if fault:
            kind, _ = fault
            if kind == "timeout":
                await asyncio.sleep(runtime.faults.timeout_seconds)
                return HTMLResponse(
                    "<html><body><h1>504 Gateway Time-out</h1></body></html>", status_code=504
                )
            if kind == "503":
                return HTMLResponse("<html><body><h1>Service Unavailable</h1></body></html>", status_code=503)
            if kind in ("429", "graph_rate_limit"):
                return JSONResponse(
                    [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                    status_code=429,
                    headers={"Retry-After": "1"},
                )
            return JSONResponse(
                [
                    {
                        "message": "An unexpected error occurred. Please include this ErrorId if you contact "
                        f"support: {uuid.uuid4().int % 10**10}-{uuid.uuid4().int % 10**5}",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
                status_code=500,
            )
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            return JSONResponse(
                [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                status_code=401,
            )
        if not VERSION.match(version):
            return JSONResponse(
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
                status_code=404,
            )
        return None

    def _answer(fn: Any, *args: Any) -> Any:
        try:
            return JSONResponse(fn(*args))
        except SalesforceError as exc:
            return JSONResponse(exc.body, status_code=exc.status)

    @api.get("/services/data/{version}/query")
    @api.get("/services/data/{version}/query/")
    async def query(version: str, request: Request) -> Response:
        refused = await guard(request, version)
        if refused is not None:
            return refused
        soql = request.query_params.get("q")
        batch = _batch_size(request.headers.get("sforce-query-options"))
        return await run_in_threadpool(_answer, org.query, version, soql or "", batch)

    @api.get("/services/data/{version}/query/{locator}")
    async def query_more(version: str, locator: str, request: Request) -> Response:
        refused = await guard(request, version)
        if refused is not None:
            return refused
        batch = _batch_size(request.headers.get("sforce-query-options"))
        return await run_in_threadpool(_answer, org.query_more, version, locator, batch)

    return api
