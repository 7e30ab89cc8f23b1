"""Eurostat regional statistics through the dissemination API (JSON-stat 2.0), one row per cell.

| entity | dataset | query |
|---|---|---|
| ``population_nuts3`` | ``demo_r_pjangrp3`` | ``geoLevel=nuts3`` (population by sex and age group) |
| ``household_income_nuts2`` | ``nama_10r_2hhinc`` | ``geoLevel=nuts2&na_item=B6N&unit=EUR_HAB`` |
| ``unemployment_nuts2`` | ``lfst_r_lfu3rt`` | ``geoLevel=nuts2&unit=PC`` |

each with ``sinceTimePeriod`` (``since``'s year, else ``since_year`` of the
connection, else six years back). :func:`jsonstat_rows` decodes a JSON-stat
2.0 dataset (dense list or sparse object ``value`` and ``status``) into one
dict per cell; each cell lands in ``raw.eurostat__<entity>`` with record id
the cell's codes joined by ``|`` (in the dataset's dimension order) and
payload ``{"dataset", "updated", "dimensions": {dim: code}, "labels": {dim:
label}, "value", "status", "status_label"}``. A cell whose value is not a
number is a reject; a missing cell is no row.

**Monthly refresh, as a snapshot.** The watermark is ``{"version": {"updated",
"query"}}``: the dataset's ``updated`` stamp and the query sent. A load whose
answer carries the same stamp for the same query loads nothing; otherwise the
whole answer is a new batch (raw stays append-only). Staging reads the latest
batch of the table (``_batch_id`` of the greatest ``_loaded_at``).

The JSON document of one query is read whole (Eurostat answers one document;
for France's NUTS 3 population that is tens of thousands of cells); rows are
then streamed into COPY. Connection ``eurostat`` (no key): host = base URL
(default ``https://ec.europa.eu``), extra ``since_year``, ``countries``
(comma list of country prefixes to keep, e.g. ``FR,BE``; default all). Without
it, the sandbox.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import psycopg

from audience import connections
from audience.ingest import BatchResult, Record, Reject, get_watermark, load_batch
from audience.retry import RetryPolicy
from audience.sources.insee import HttpSource

log = logging.getLogger(__name__)

SOURCE = "eurostat"
DEFAULT_BASE_URL = "https://ec.europa.eu"
DATA_PATH = "/eurostat/api/dissemination/statistics/1.0/data"


@dataclass(frozen=True)
class Query:
    entity: str
    dataset: str
    filters: tuple[tuple[str, str], ...]


QUERIES = {
    "population_nuts3": Query("population_nuts3", "demo_r_pjangrp3", (("geoLevel", "nuts3"),)),
    "household_income_nuts2": Query(
        "household_income_nuts2",
        "nama_10r_2hhinc",
        (("geoLevel", "nuts2"), ("na_item", "B6N"), ("unit", "EUR_HAB")),
    ),
    "unemployment_nuts2": Query(
        "unemployment_nuts2", "lfst_r_lfu3rt", (("geoLevel", "nuts2"), ("unit", "PC"))
    ),
}


class JsonStatError(ValueError):
    """The document is not a JSON-stat 2.0 dataset this decoder can read (the message says why)."""


# -- JSON-stat 2.0 -------------------------------------------------------------------------------


def _categories(dim_id: str, dim: Any, size: int) -> tuple[list[str], dict[str, str]]:
    """A dimension's codes in position order, and their labels (code when unlabelled)."""
    if not isinstance(dim, dict) or not isinstance(dim.get("category"), dict):
        raise JsonStatError(f"dimension {dim_id!r} has no category object")
    cat = dim["category"]
    index, labels = cat.get("index"), cat.get("label") or {}
    if index is None:
        # JSON-stat allows a single category without index: its one label key is its code
        if size != 1 or not isinstance(labels, dict) or len(labels) != 1:
            raise JsonStatError(f"dimension {dim_id!r} has no category.index")
        codes = list(labels)
    elif isinstance(index, list):
        codes = [str(c) for c in index]
    elif isinstance(index, dict):
        codes = [""] * len(index)
        for code, pos in index.items():
            if not isinstance(pos, int) or not 0 <= pos < len(index) or codes[pos]:
                raise JsonStatError(f"dimension {dim_id!r}: category.index position {pos!r} is invalid")
            codes[pos] = str(code)
    else:
        raise JsonStatError(f"dimension {dim_id!r}: category.index must be an array or an object")
    if len(codes) != size:
        raise JsonStatError(f"dimension {dim_id!r} has {len(codes)} categories but size says {size}")
    if not isinstance(labels, dict):
        raise JsonStatError(f"dimension {dim_id!r}: category.label must be an object")
    return codes, {c: str(labels.get(c, c)) for c in codes}


def _by_index(data: Any, total: int, what: str) -> Iterator[tuple[int, Any]]:
    """(flat index, entry) of a dense list or a sparse object keyed by the flat index as a string."""
    if data is None:
        return
    if isinstance(data, list):
        if len(data) != total:
            raise JsonStatError(f"dense {what} has {len(data)} entries but the dimensions make {total} cells")
        yield from enumerate(data)
    elif isinstance(data, dict):
        for key, entry in data.items():
            try:
                flat = int(key)
            except (TypeError, ValueError):
                raise JsonStatError(f"sparse {what} key {key!r} is not a flat index") from None
            if not 0 <= flat < total:
                raise JsonStatError(f"sparse {what} key {flat} is outside the {total} cells")
            yield flat, entry
    else:
        raise JsonStatError(f"{what} must be an array or an object")


def jsonstat_rows(doc: Any) -> Iterator[dict[str, Any]]:
    """One dict per cell of a JSON-stat 2.0 dataset, in flat-index order.

    Each row: ``index`` (the row-major flat index, Σ pos_i × Π size[i+1:]),
    ``dimensions`` ``{dim: code}`` and ``labels`` ``{dim: label}`` in the
    dataset's dimension order, ``value`` (as the document holds it; None when
    the cell has a status but no value) and ``status`` (None when none).
    ``value`` and ``status`` may each be a dense array or a sparse object;
    ``status`` may also be one string for every cell. Cells with neither a
    value nor a status are missing and give no row.
    """
    if not isinstance(doc, dict):
        raise JsonStatError("a JSON-stat document is a JSON object")
    if doc.get("class", "dataset") != "dataset":
        raise JsonStatError(f"class {doc.get('class')!r} is not a dataset")
    ids, sizes, dims = doc.get("id"), doc.get("size"), doc.get("dimension")
    if not isinstance(ids, list) or not isinstance(sizes, list) or len(ids) != len(sizes):
        raise JsonStatError("id and size must be arrays of the same length")
    if not isinstance(dims, dict) or any(d not in dims for d in ids):
        raise JsonStatError("every id must have an entry in dimension")
    if any(not isinstance(s, int) or s < 0 for s in sizes):
        raise JsonStatError("size must hold non-negative integers")
    cats = [_categories(d, dims[d], s) for d, s in zip(ids, sizes, strict=True)]
    total = math.prod(sizes)
    strides = [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]
    values = {i: v for i, v in _by_index(doc.get("value"), total, "value") if v is not None}
    raw_status = doc.get("status")
    if isinstance(raw_status, str):
        status = dict.fromkeys(range(total), raw_status) if raw_status else {}
    else:
        status = {i: s for i, s in _by_index(raw_status, total, "status") if s not in (None, "")}
    for flat in sorted(values.keys() | status.keys()):
        codes, labels = {}, {}
        rest = flat
        for dim_id, stride, (dim_codes, dim_labels) in zip(ids, strides, cats, strict=True):
            pos, rest = divmod(rest, stride)
            codes[dim_id] = dim_codes[pos]
            labels[dim_id] = dim_labels[dim_codes[pos]]
        yield {
            "index": flat,
            "dimensions": codes,
            "labels": labels,
            "value": values.get(flat),
            "status": status.get(flat),
        }


# -- connector -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EurostatSettings:
    base_url: str
    since_year: int | None = None
    countries: tuple[str, ...] | None = None
    timeout: float = 120.0
    is_sandbox: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def resolve(cls) -> EurostatSettings:
        """From the Airflow connection ``eurostat`` (no key needed), else the sandbox."""
        conn = connections.get("eurostat")
        if conn is None:
            base = connections.sandbox_url()
            assert base is not None
            return cls(base, is_sandbox=True)
        extra = conn.extra
        since_year = None
        if extra.get("since_year") not in (None, ""):
            try:
                since_year = int(extra["since_year"])
            except (TypeError, ValueError):
                since_year = 0
            if not 1960 <= since_year <= 2100:
                raise connections.SettingError(
                    "the Airflow connection 'eurostat': extra since_year must be a year such as 2019"
                )
        countries = extra.get("countries")
        return cls(
            conn.base_url() or DEFAULT_BASE_URL,
            since_year=since_year,
            countries=tuple(c.strip().upper() for c in str(countries).split(",") if c.strip())
            if countries
            else None,
        )


def cell_record(
    dataset: str, updated: Any, row: dict[str, Any], status_labels: dict[str, Any]
) -> Record | Reject:
    """A decoded cell as a raw record; a value that is not a number (nor absent) is a reject."""
    value = row["value"]
    payload = {
        "dataset": dataset,
        "updated": updated,
        "dimensions": row["dimensions"],
        "labels": row["labels"],
        "value": value,
        "status": row["status"],
        "status_label": status_labels.get(row["status"]) if row["status"] else None,
    }
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    ):
        return Reject(f"bad_value: {dataset} cell {row['index']} value is not a number", payload)
    return Record("|".join(row["dimensions"].values()), None, payload)


class EurostatClient(HttpSource):
    def __init__(
        self,
        settings: EurostatSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            "Eurostat",
            settings.base_url,
            timeout=settings.timeout,
            retry=settings.retry,
            transport=transport,
            sleep=sleep,
        )
        self.settings = settings

    def dataset(self, query: Query, since_year: int) -> dict[str, Any]:
        params = [("format", "JSON"), ("lang", "EN"), *query.filters, ("sinceTimePeriod", str(since_year))]
        doc = self.get_json(f"{DATA_PATH}/{query.dataset}", params, what=f"{query.dataset}")
        if not isinstance(doc, dict):
            raise RuntimeError(
                f"Eurostat {query.dataset}: expected a JSON-stat object, got {type(doc).__name__}"
            )
        return doc


def _since_year(settings: EurostatSettings, since: str | None, today: date | None) -> int:
    if since:
        try:
            return int(str(since)[:4])
        except ValueError:
            raise connections.SettingError(f"since must start with a year (YYYY), not {since!r}") from None
    return settings.since_year or (today or datetime.now(UTC).date()).year - 6


def _rows(doc: dict[str, Any], query: Query, countries: tuple[str, ...] | None) -> Iterator[Record | Reject]:
    status_labels = ((doc.get("extension") or {}).get("status") or {}).get("label") or {}
    for row in jsonstat_rows(doc):
        geo = row["dimensions"].get("geo", "")
        if countries and not geo.startswith(countries):
            continue
        yield cell_record(query.dataset, doc.get("updated"), row, status_labels)


def load_entity(
    conn: psycopg.Connection,
    entity: str,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: EurostatSettings | None = None,
    client: EurostatClient | None = None,
    today: date | None = None,
) -> BatchResult:
    """Load one entity of :data:`QUERIES` as a snapshot (nothing when the dataset has not changed)."""
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    if entity not in QUERIES:
        raise ValueError(f"unknown Eurostat entity {entity!r}; known: {', '.join(QUERIES)}")
    query = QUERIES[entity]
    owned = client is None
    if client is None:
        client = EurostatClient(settings or EurostatSettings.resolve())
    settings = client.settings
    try:
        since_year = _since_year(settings, since, today)
        doc = client.dataset(query, since_year)
        try:
            next(jsonstat_rows(doc), None)  # fail on a malformed document before opening the batch
        except JsonStatError as exc:
            raise RuntimeError(
                f"Eurostat {query.dataset}: not a readable JSON-stat 2.0 dataset ({exc})"
            ) from None
        ensure_schemas(conn)
        conn.commit()
        watermark = get_watermark(conn, SOURCE, entity)
        version = {
            "updated": doc.get("updated"),
            "query": [list(f) for f in query.filters] + [["sinceTimePeriod", str(since_year)]],
            "countries": list(settings.countries or []),
        }
        new = {"version": version}
        current = not full_refresh and watermark == new
        if current:
            log.info(
                "eurostat.%s: %s unchanged since the last load (updated %s)",
                entity,
                query.dataset,
                doc.get("updated"),
            )
        items = iter(()) if current else _rows(doc, query, settings.countries)
        result = load_batch(conn, SOURCE, entity, items, watermark_from=watermark, next_watermark=lambda: new)
    finally:
        if owned:
            client.close()
    log.info(
        "eurostat.%s: %d requests (%s)",
        entity,
        client.requests,
        "sandbox" if settings.is_sandbox else "Eurostat",
    )
    return result


def load_population_nuts3(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: EurostatSettings | None = None,
    **kwargs: Any,
) -> BatchResult:
    """NUTS 3 population by sex and age group (``demo_r_pjangrp3``)."""
    return load_entity(
        conn, "population_nuts3", full_refresh=full_refresh, since=since, settings=settings, **kwargs
    )


def load_household_income_nuts2(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: EurostatSettings | None = None,
    **kwargs: Any,
) -> BatchResult:
    """NUTS 2 net disposable household income per inhabitant (``nama_10r_2hhinc`` B6N, EUR_HAB)."""
    return load_entity(
        conn, "household_income_nuts2", full_refresh=full_refresh, since=since, settings=settings, **kwargs
    )


def load_unemployment_nuts2(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: EurostatSettings | None = None,
    **kwargs: Any,
) -> BatchResult:
    """NUTS 2 unemployment rate (``lfst_r_lfu3rt``, PC)."""
    return load_entity(
        conn, "unemployment_nuts2", full_refresh=full_refresh, since=since, settings=settings, **kwargs
    )


LOADERS: dict[str, Callable[..., BatchResult]] = {
    "population_nuts3": load_population_nuts3,
    "household_income_nuts2": load_household_income_nuts2,
    "unemployment_nuts2": load_unemployment_nuts2,
}
