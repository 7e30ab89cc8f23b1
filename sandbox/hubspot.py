"""HubSpot CRM contacts, as the v3 search API serves them, from the world file.

The world's ``hubspot_contacts.jsonl`` is never loaded whole: a compact index
(numpy arrays of byte offset, id, createdate and lastmodifieddate, sorted by
``(lastmodifieddate, id)``) is built once and cached in the state folder;
records are read back from the file by offset. Contacts changed through the
API (``PATCH``) live in SQLite and shadow their world version.

Search follows HubSpot: ``filterGroups`` (OR of groups, AND of filters),
one sort (ties broken by id), ``properties`` selection, ``limit`` (default 10,
at most 200), the ``after`` cursor and the cap on results one query can page
through (10,000 by default). Filters on ``lastmodifieddate``, ``createdate`` and
``hs_object_id`` are vectorised; any other filter reads the candidate records.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from sandbox.store import StateStore
from sandbox.wire import JSONResponse

log = logging.getLogger(__name__)

CONTACTS_FILE = "hubspot_contacts.jsonl"
INDEX_FILE = "hubspot_index.npz"
INDEX_VERSION = 1
DEFAULT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
ALWAYS_PROPERTIES = ("createdate", "hs_object_id", "lastmodifieddate")
INDEXED = {"lastmodifieddate": "lm", "createdate": "created", "hs_object_id": "ids"}
DEALS_FILE = "hubspot_deals.jsonl"
DEALS_INDEX_FILE = "hubspot_deals_index.npz"


@dataclass(frozen=True)
class ObjectKind:
    """What differs between CRM object types served by the same search machinery."""

    name: str  # the path segment: contacts, deals
    file: str  # the world file
    index_file: str  # its index cache in the state folder
    modified: str  # the last-modified property: lastmodifieddate (contacts) or hs_lastmodifieddate
    default_properties: tuple[str, ...]

    @property
    def indexed(self) -> dict[str, str]:
        return {self.modified: "lm", "createdate": "created", "hs_object_id": "ids"}

    @property
    def always_properties(self) -> tuple[str, ...]:
        return ("createdate", "hs_object_id", self.modified)


CONTACTS = ObjectKind("contacts", CONTACTS_FILE, INDEX_FILE, "lastmodifieddate", DEFAULT_PROPERTIES)
DEALS = ObjectKind(
    "deals",
    DEALS_FILE,
    DEALS_INDEX_FILE,
    "hs_lastmodifieddate",
    (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
)
OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}
MAX_LIMIT = 200
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18


class HubSpotError(Exception):
    """An error answer in HubSpot's shape."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        }


def validation_error(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", **extra)


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ms(value: Any) -> int:
    """Epoch milliseconds from a filter value: ms digits, an ISO 8601 datetime, or a date."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise validation_error(
            f"'{text}' is not a valid datetime: use milliseconds since the epoch or ISO 8601"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


ISO_LEN = 24  # 'YYYY-MM-DDTHH:MM:SS.mmmZ', the API's own timestamp format


def _canonical_iso(value: Any) -> bytes:
    return iso_ms(parse_ms(value)).encode()


def _line_keys(line: bytes) -> tuple[int, bytes, bytes]:
    """(id, createdAt, updatedAt as 24-byte ISO strings) of one world line; fast path for our own layout."""
    if line.startswith(b'{"id":"'):
        end = line.find(b'"', 7)
        k = line.rfind(b'"createdAt":"')
        if (
            end > 7
            and k > 0
            and line[k + 37 : k + 52] == b'","updatedAt":"'
            and line[k + 76 : k + 77] == b'"'
            and line[k + 36 : k + 37] == b"Z"
            and line[k + 75 : k + 76] == b"Z"
        ):
            return int(line[7:end]), line[k + 13 : k + 37], line[k + 52 : k + 76]
    obj = json.loads(line)
    props = obj.get("properties") or {}
    created = obj.get("createdAt") or props.get("createdate")
    updated = obj.get("updatedAt") or props.get("lastmodifieddate") or created
    return int(obj["id"]), _canonical_iso(created), _canonical_iso(updated)


def _iso_vector_ms(raw: list[bytes]) -> np.ndarray:
    """Epoch ms of many 'YYYY-MM-DDTHH:MM:SS.mmmZ' strings at once."""
    if not raw:
        return np.zeros(0, dtype=np.int64)
    text = np.array(raw, dtype=f"S{ISO_LEN}")
    digits = text.view(np.uint8).reshape(-1, ISO_LEN).astype(np.int64) - 48
    days = text.astype("S10").astype("datetime64[D]").astype(np.int64)

    def two(i: int) -> np.ndarray:
        return digits[:, i] * 10 + digits[:, i + 1]

    millis = digits[:, 20] * 100 + digits[:, 21] * 10 + digits[:, 22]
    return days * 86_400_000 + two(11) * 3_600_000 + two(14) * 60_000 + two(17) * 1000 + millis


@dataclass
class _Index:
    offsets: np.ndarray  # int64, byte offset of each record (in (lm, id) order)
    lengths: np.ndarray  # int32
    ids: np.ndarray  # int64
    created: np.ndarray  # int64 ms
    lm: np.ndarray  # int64 ms
    by_id: np.ndarray  # positions sorted by id
    by_created: np.ndarray  # positions sorted by (created, id)

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])


def _empty_index() -> _Index:
    z = np.zeros(0, dtype=np.int64)
    return _Index(z, np.zeros(0, dtype=np.int32), z, z, z, z, z)


def build_index(path: Path, cache: Path | None = None) -> _Index:
    """The index of a world file, from the cache when it matches the file (size and mtime)."""
    stat = path.stat()
    stamp = np.array([INDEX_VERSION, stat.st_size, stat.st_mtime_ns], dtype=np.int64)
    if cache is not None and cache.exists():
        try:
            with np.load(cache) as data:
                if np.array_equal(data["stamp"], stamp):
                    return _Index(
                        *(
                            data[k]
                            for k in ("offsets", "lengths", "ids", "created", "lm", "by_id", "by_created")
                        )
                    )
        except (OSError, KeyError, ValueError):
            log.warning("hubspot index cache %s unreadable; rebuilding", cache)
    started = time.monotonic()
    offsets: list[int] = []
    lengths: list[int] = []
    ids: list[int] = []
    created: list[bytes] = []
    lm: list[bytes] = []
    pos = 0
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            size = len(line)
            if line.strip():
                try:
                    cid, c_ms, u_ms = _line_keys(line)
                except (ValueError, KeyError, TypeError, HubSpotError):
                    raise ValueError(
                        f"{path}, line {line_no}: not a HubSpot contact with id, createdAt and updatedAt; "
                        "regenerate the world"
                    ) from None
                offsets.append(pos)
                lengths.append(size)
                ids.append(cid)
                created.append(c_ms)
                lm.append(u_ms)
            pos += size
    a_ids = np.array(ids, dtype=np.int64)
    a_lm = _iso_vector_ms(lm)
    order = np.lexsort((a_ids, a_lm))
    index = _Index(
        offsets=np.array(offsets, dtype=np.int64)[order],
        lengths=np.array(lengths, dtype=np.int32)[order],
        ids=a_ids[order],
        created=_iso_vector_ms(created)[order],
        lm=a_lm[order],
        by_id=np.zeros(0, dtype=np.int64),
        by_created=np.zeros(0, dtype=np.int64),
    )
    index.by_id = np.argsort(index.ids, kind="stable")
    index.by_created = np.lexsort((index.ids, index.created))
    if index.size > 1 and bool(np.any(np.diff(index.ids[index.by_id]) == 0)):
        raise ValueError(f"{path}: contact ids are not unique; regenerate the world")
    if cache is not None:
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            stamp=stamp,
            offsets=index.offsets,
            lengths=index.lengths,
            ids=index.ids,
            created=index.created,
            lm=index.lm,
            by_id=index.by_id,
            by_created=index.by_created,
        )
        os.replace(tmp, cache)
    log.info("hubspot: indexed %d contacts in %.1fs", index.size, time.monotonic() - started)
    return index


@dataclass(frozen=True)
class _Filter:
    prop: str
    op: str
    value: Any = None
    high: Any = None
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class SearchRequest:
    groups: tuple[tuple[_Filter, ...], ...]
    sort_prop: str | None
    descending: bool
    properties: tuple[str, ...] | None
    limit: int
    after: int
    query: str | None


def parse_search(body: Any, max_results: int) -> SearchRequest:
    """Validate a search body the way HubSpot does; HubSpotError(400) when it is wrong."""
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: the request body must be a JSON object")
    limit = body.get("limit", 10)
    if limit is None:
        limit = 10
    if isinstance(limit, bool) or not isinstance(limit, int) and not str(limit).isdigit():
        raise validation_error(f"Invalid input JSON: limit must be an integer, got {limit!r}")
    limit = int(limit)
    if limit > MAX_LIMIT:
        raise validation_error(
            f"limit must be less than or equal to {MAX_LIMIT}; got {limit}",
            errors=[{"message": f"must be less than or equal to {MAX_LIMIT}", "in": "limit"}],
        )
    if limit < 0:
        raise validation_error(f"limit must be greater than or equal to 0; got {limit}")
    raw_after = body.get("after")
    if raw_after in (None, ""):
        after = 0
    elif str(raw_after).isdigit():
        after = int(str(raw_after))
    else:
        raise validation_error(
            f"after must be a paging cursor returned by a previous search; got {raw_after!r}"
        )
    if after + limit > max_results:
        raise validation_error(
            f"Search results are limited to {max_results:,} per query; after={after} with limit={limit} "
            "goes past it. Narrow the query (e.g. filter on lastmodifieddate) instead of paging further.",
            subCategory="SEARCH_RESULTS_LIMIT",
        )
    groups_in = body.get("filterGroups") or []
    if not isinstance(groups_in, list):
        raise validation_error("filterGroups must be a list")
    if len(groups_in) > MAX_GROUPS:
        raise validation_error(f"at most {MAX_GROUPS} filterGroups are allowed; got {len(groups_in)}")
    groups: list[tuple[_Filter, ...]] = []
    total = 0
    for group in groups_in:
        filters_in = (group or {}).get("filters") or [] if isinstance(group, dict) else None
        if filters_in is None or not isinstance(filters_in, list):
            raise validation_error("each filterGroup must be an object with a list of filters")
        if len(filters_in) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"at most {MAX_FILTERS_PER_GROUP} filters per group; got {len(filters_in)}"
            )
        total += len(filters_in)
        groups.append(tuple(_parse_filter(f) for f in filters_in))
    if total > MAX_FILTERS:
        raise validation_error(f"at most {MAX_FILTERS} filters in all; got {total}")
    sorts = body.get("sorts") or []
    sort_prop, descending = None, False
    if sorts:
        if not isinstance(sorts, list):
            raise validation_error("sorts must be a list")
        if len(sorts) > 1:
            raise validation_error("only one sort is supported per search")
        first = sorts[0]
        if isinstance(first, str):
            descending = first.startswith("-")
            sort_prop = first.lstrip("-")
        elif isinstance(first, dict) and first.get("propertyName"):
            sort_prop = str(first["propertyName"])
            direction = str(first.get("direction") or "ASCENDING").upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                raise validation_error(f"sort direction must be ASCENDING or DESCENDING; got {direction!r}")
            descending = direction == "DESCENDING"
        else:
            raise validation_error("a sort is a property name or {'propertyName', 'direction'}")
    props = body.get("properties")
    if props is not None and (not isinstance(props, list) or not all(isinstance(p, str) for p in props)):
        raise validation_error("properties must be a list of property names")
    query = body.get("query")
    return SearchRequest(
        tuple(groups),
        sort_prop,
        descending,
        tuple(props) if props else None,
        limit,
        after,
        str(query) if query else None,
    )


def _parse_filter(raw: Any) -> _Filter:
    if not isinstance(raw, dict) or not raw.get("propertyName"):
        raise validation_error("each filter needs a propertyName and an operator")
    op = str(raw.get("operator") or "EQ").upper()
    if op not in OPERATORS:
        raise validation_error(f"operator {op!r} is not supported; use one of {', '.join(sorted(OPERATORS))}")
    prop = str(raw["propertyName"])
    if op in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise validation_error(f"operator {op} needs a non-empty 'values' list (property {prop})")
        return _Filter(prop, op, values=tuple(values))
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return _Filter(prop, op)
    if "value" not in raw or raw["value"] is None:
        raise validation_error(f"operator {op} needs a 'value' (property {prop})")
    if op == "BETWEEN" and raw.get("highValue") is None:
        raise validation_error(f"operator BETWEEN needs a 'highValue' (property {prop})")
    return _Filter(prop, op, raw["value"], raw.get("highValue"))


# ----------------------------------------------------------------------------- evaluation


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _cmp_value(prop: str, value: Any, indexed: dict[str, str] = INDEXED) -> Any:
    if prop in indexed:
        return parse_ms(value) if prop != "hs_object_id" else int(str(value))
    return value


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w@.+-]+", text.lower()) if t]


def match_filter(f: _Filter, props: dict[str, Any], indexed: dict[str, str] = INDEXED) -> bool:
    """One filter on one record's properties (the slow path)."""
    raw = props.get(f.prop)
    present = raw is not None and raw != ""
    if f.op == "HAS_PROPERTY":
        return present
    if f.op == "NOT_HAS_PROPERTY":
        return not present
    if f.op in ("IN", "NOT_IN"):
        inside = present and str(raw).casefold() in {str(v).casefold() for v in f.values}
        return inside if f.op == "IN" else not inside
    if f.op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = str(f.value).lower()
        text = str(raw or "").lower()
        if "*" in pattern:
            hit = present and (
                fnmatch.fnmatchcase(text, pattern)
                or any(fnmatch.fnmatchcase(t, pattern) for t in _tokens(text))
            )
        else:
            hit = present and pattern in _tokens(text)
        return hit if f.op == "CONTAINS_TOKEN" else not hit
    if not present:
        return f.op == "NEQ"
    if f.prop in indexed:
        left: Any = _cmp_value(f.prop, raw, indexed)
        right: Any = _cmp_value(f.prop, f.value, indexed)
        high: Any = _cmp_value(f.prop, f.high, indexed) if f.high is not None else None
    else:
        ln, rn = _num(raw), _num(f.value)
        if ln is not None and rn is not None:
            left, right, high = ln, rn, _num(f.high)
        else:
            left, right = str(raw).casefold(), str(f.value).casefold()
            high = str(f.high).casefold() if f.high is not None else None
    if f.op == "EQ":
        return left == right
    if f.op == "NEQ":
        return left != right
    if f.op == "LT":
        return left < right
    if f.op == "LTE":
        return left <= right
    if f.op == "GT":
        return left > right
    if f.op == "GTE":
        return left >= right
    if f.op == "BETWEEN":
        return right <= left <= high
    return False


def _query_hit(query: str, props: dict[str, Any]) -> bool:
    q = query.lower().strip()
    for key in ("email", "firstname", "lastname", "phone", "hs_object_id"):
        value = props.get(key)
        if value and q in str(value).lower():
            return True
    return False


def _vector_mask(index: _Index, f: _Filter, indexed: dict[str, str] = INDEXED) -> np.ndarray:
    column: np.ndarray = getattr(index, indexed[f.prop])
    if f.op == "HAS_PROPERTY":
        return np.ones(index.size, dtype=bool)
    if f.op == "NOT_HAS_PROPERTY":
        return np.zeros(index.size, dtype=bool)
    if f.op in ("IN", "NOT_IN"):
        inside = np.isin(column, np.array([_cmp_value(f.prop, v, indexed) for v in f.values], dtype=np.int64))
        return inside if f.op == "IN" else ~inside
    value = _cmp_value(f.prop, f.value, indexed)
    if f.op == "EQ":
        return column == value
    if f.op == "NEQ":
        return column != value
    if f.op == "LT":
        return column < value
    if f.op == "LTE":
        return column <= value
    if f.op == "GT":
        return column > value
    if f.op == "GTE":
        return column >= value
    if f.op == "BETWEEN":
        return (column >= value) & (column <= _cmp_value(f.prop, f.high, indexed))
    raise validation_error(f"operator {f.op} is not supported on {f.prop}")


def _is_vectorised(f: _Filter, indexed: dict[str, str] = INDEXED) -> bool:
    return f.prop in indexed and f.op not in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")


# ----------------------------------------------------------------------------- the store


class ObjectStore:
    """World objects of one kind (contacts, deals) plus API changes; answers searches and single reads."""

    def __init__(
        self, world_dir: Path, state: StateStore, state_dir: Path, kind: ObjectKind = CONTACTS
    ) -> None:
        self.kind = kind
        self.indexed = kind.indexed
        self.path = Path(world_dir) / kind.file
        self.state = state
        self._lock = threading.RLock()
        if self.path.exists():
            self.index = build_index(self.path, Path(state_dir) / kind.index_file)
            self._fd: int | None = os.open(self.path, os.O_RDONLY)
        else:
            log.warning("hubspot: %s not found; the %s API serves an empty CRM", self.path, kind.name)
            self.index = _empty_index()
            self._fd = None
        self._load_overrides()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _load_overrides(self) -> None:
        self._pages: tuple[Any, int, np.ndarray] | None = None  # see _search
        self.overrides: dict[int, dict[str, Any]] = {}
        self.shadow = np.zeros(self.index.size, dtype=bool)
        # only contacts can be changed through the sandbox's API (PATCH)
        for body in self.state.hubspot_contacts() if self.kind is CONTACTS else ():
            self._apply_override(body)

    def reset(self) -> None:
        with self._lock:
            self._load_overrides()

    def _apply_override(self, obj: dict[str, Any]) -> None:
        self._pages = None
        cid = int(obj["id"])
        self.overrides[cid] = obj
        pos = self._position(cid)
        if pos is not None:
            self.shadow[pos] = True

    def _position(self, cid: int) -> int | None:
        idx = self.index
        if not idx.size:
            return None
        k = int(np.searchsorted(idx.ids[idx.by_id], cid))
        if k < idx.size and int(idx.ids[idx.by_id[k]]) == cid:
            return int(idx.by_id[k])
        return None

    def _read(self, pos: int) -> dict[str, Any]:
        assert self._fd is not None
        data = os.pread(self._fd, int(self.index.lengths[pos]), int(self.index.offsets[pos]))
        return json.loads(data)

    @property
    def count(self) -> int:
        return (
            self.index.size
            - int(self.shadow.sum())
            + sum(1 for cid in self.overrides if self._position(cid) is None)
        )

    # -- reads ------------------------------------------------------------------------------
    def get(self, cid: int) -> dict[str, Any] | None:
        with self._lock:
            if cid in self.overrides:
                return self.overrides[cid]
            pos = self._position(cid)
            return self._read(pos) if pos is not None else None

    def search(self, req: SearchRequest) -> dict[str, Any]:
        with self._lock:
            return self._search(req)

    def _search(self, req: SearchRequest) -> dict[str, Any]:
        # A client pages through one query: the matches of its last query, in sort order, are kept
        # until the next query or the next change, so that each further page is a slice (each page
        # had cost a few passes over every object's index entry: 3 ms a page at 1M contacts)
        query_key = (req.groups, req.query, req.sort_prop, req.descending)
        if self._pages is not None and self._pages[0] == query_key:
            _, total, positions = self._pages
            end = req.after + req.limit
            return self._answer(req, total, [int(p) for p in positions[req.after : end]], end)
        idx = self.index
        groups = req.groups or ((),)
        mask = np.zeros(idx.size, dtype=bool)
        slow_groups: list[tuple[np.ndarray, tuple[_Filter, ...]]] = []
        for group in groups:
            gmask = ~self.shadow
            residual = []
            for f in group:
                if _is_vectorised(f, self.indexed):
                    gmask = gmask & _vector_mask(idx, f, self.indexed)
                else:
                    residual.append(f)
            if residual or req.query:
                slow_groups.append((gmask, tuple(residual)))
            else:
                mask |= gmask
        for gmask, residual in slow_groups:
            for pos in np.flatnonzero(gmask & ~mask):
                props = self._read(int(pos)).get("properties") or {}
                if all(match_filter(f, props, self.indexed) for f in residual) and (
                    not req.query or _query_hit(req.query, props)
                ):
                    mask[pos] = True
        over = [o for o in self.overrides.values() if self._matches(o, req, groups)]
        total = int(mask.sum()) + len(over)
        end = req.after + req.limit
        if not self.overrides and (req.sort_prop or "hs_object_id") in self.indexed:
            positions = self._sorted_positions(req, mask)
            self._pages = (query_key, total, positions)
            return self._answer(req, total, [int(p) for p in positions[req.after : end]], end)
        return self._answer(req, total, self._ordered(req, mask, over, req.after, end), end)

    def _answer(self, req: SearchRequest, total: int, page: list[Any], end: int) -> dict[str, Any]:
        results = [
            self._project(item if isinstance(item, dict) else self._read(item), req.properties)
            for item in page
        ]
        out: dict[str, Any] = {"total": total, "results": results}
        if end < total and req.limit > 0:
            out["paging"] = {"next": {"after": str(end)}}
        return out

    def _sorted_positions(self, req: SearchRequest, mask: np.ndarray) -> np.ndarray:
        """The matching positions in the order of an indexed sort property, (value, id) as the index is."""
        idx = self.index
        prop = req.sort_prop or "hs_object_id"
        if prop == self.kind.modified:
            positions = np.flatnonzero(mask)
        elif prop == "createdate":
            positions = idx.by_created[mask[idx.by_created]]
        else:
            positions = idx.by_id[mask[idx.by_id]]
        return positions[::-1] if req.descending else positions

    def _matches(
        self, obj: dict[str, Any], req: SearchRequest, groups: Iterable[tuple[_Filter, ...]]
    ) -> bool:
        props = obj.get("properties") or {}
        if req.query and not _query_hit(req.query, props):
            return False
        return any(all(match_filter(f, props, self.indexed) for f in group) for group in groups)

    def _ordered(
        self, req: SearchRequest, mask: np.ndarray, over: list[dict[str, Any]], start: int, end: int
    ) -> list[Any]:
        """Matches ``start`` to ``end`` in sort order: base positions (ints) and override dicts."""
        idx = self.index
        prop = req.sort_prop or "hs_object_id"
        key: Callable[[Any], Any]
        if prop in self.indexed:
            positions = self._sorted_positions(req, mask)
            if not over:
                # the index orders positions by (value, id) already: the page is a slice (building
                # and sorting every earlier match per page made deep paging quadratic)
                return [int(p) for p in positions[start:end]]
            positions = positions[:end]
            column = getattr(idx, self.indexed[prop])
            base = [(int(column[p]), int(idx.ids[p]), int(p)) for p in positions]
            extra = [
                (_cmp_value(prop, o["properties"].get(prop) or 0, self.indexed), int(o["id"]), o)
                for o in over
            ]
            merged = sorted(base + extra, key=lambda t: (t[0], t[1]), reverse=req.descending)
            return [t[2] for t in merged[start:end]]
        # any other property: read every match (slow path, fine for small worlds)
        items: list[tuple[Any, int, Any]] = []
        for p in np.flatnonzero(mask):
            value = (self._read(int(p)).get("properties") or {}).get(prop)
            items.append((value, int(idx.ids[p]), int(p)))
        items += [(o["properties"].get(prop), int(o["id"]), o) for o in over]

        def key(t: tuple[Any, int, Any]) -> Any:
            value = t[0]
            number = _num(value)
            return (value is None, number if number is not None else float("inf"), str(value or ""), t[1])

        items.sort(key=key, reverse=req.descending)
        return [t[2] for t in items[start:end]]

    def _project(self, obj: dict[str, Any], wanted: tuple[str, ...] | None) -> dict[str, Any]:
        props = obj.get("properties") or {}
        defaults = self.kind.default_properties
        names = list(wanted) if wanted else list(defaults)
        for name in self.kind.always_properties:
            if name not in names:
                names.append(name)
        return {
            "id": obj["id"],
            "properties": {n: props.get(n) for n in names if n in props or n in defaults},
            "createdAt": obj.get("createdAt"),
            "updatedAt": obj.get("updatedAt"),
            "archived": bool(obj.get("archived", False)),
        }

    def project(self, obj: dict[str, Any], wanted: tuple[str, ...] | None) -> dict[str, Any]:
        return self._project(obj, wanted)

    # -- writes ------------------------------------------------------------------------------
    def update(self, cid: int, properties: dict[str, Any]) -> dict[str, Any] | None:
        """PATCH: change some properties; lastmodifieddate moves to now (strictly later than before)."""
        with self._lock:
            current = self.get(cid)
            if current is None:
                return None
            known = set((current.get("properties") or {}).keys())
            unknown = sorted(set(properties) - known)
            if unknown:
                raise validation_error(
                    f"Property values were not valid: properties {unknown} do not exist on contacts",
                    subCategory="PROPERTY_DOESNT_EXIST",
                )
            readonly = sorted(set(properties) & {"hs_object_id", "createdate", "lastmodifieddate"})
            if readonly:
                raise validation_error(
                    f"Property values were not valid: {readonly} are read-only", subCategory="READ_ONLY_VALUE"
                )
            obj = json.loads(json.dumps(current))
            props = obj["properties"]
            for name, value in properties.items():
                props[name] = None if value is None else str(value)
            old_ms = parse_ms(obj.get("updatedAt") or props.get("lastmodifieddate"))
            now_ms = max(int(time.time() * 1000), old_ms + 1)
            stamp = iso_ms(now_ms)
            props["lastmodifieddate"] = stamp
            obj["updatedAt"] = stamp
            self.state.save_hubspot_contact(str(cid), obj, now_ms)
            self._apply_override(obj)
            return obj


ContactStore = ObjectStore  # the contacts' store: ObjectStore(..., kind=CONTACTS)


def deals_router(
    world_dir: Path,
    state: StateStore,
    state_dir: Path,
    runtime: Any,
    auth: Callable[[Any], str],
    rate_limited: Callable[[], Any],
) -> Any:
    """``POST /crm/v3/objects/deals/search``: the contacts' search machinery over ``hubspot_deals.jsonl``.

    ``auth``, ``rate_limited`` and ``runtime`` are the app's own (same token check,
    same per-second search budget and result cap as contacts). The associated
    contact is the deal property ``contact_id`` (search answers carry no associations).
    """
    deals = ObjectStore(world_dir, state, state_dir, DEALS)
    router = APIRouter()

    @router.post("/crm/v3/objects/deals/search")
    async def deals_search(request: Request) -> Any:
        token = auth(request)
        if not runtime.search_allowed(token):
            return rate_limited()
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            raise validation_error(
                f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        req = parse_search(body, runtime.config.hubspot_max_results)
        return JSONResponse(await run_in_threadpool(deals.search, req))

    return router
