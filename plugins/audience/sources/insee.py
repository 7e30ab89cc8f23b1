"""INSEE open data: the geography (Métadonnées geo), local statistics (Melodi) and La Poste's postal codes.

Entities, each into ``raw.insee__<entity>``:

| entity | from | record id |
|---|---|---|
| ``regions`` | ``GET /metadonnees/geo/regions?date=`` | région code |
| ``departements`` | ``GET /metadonnees/geo/departements?date=`` + ``region/{r}/descendants?type=Departement`` | département code |
| ``communes`` | ``geo/communes?date=`` + ``geo/arrondissementsMunicipaux?date=`` (+ each arrondissement's commune) | INSEE code |
| ``postal_codes`` | La Poste's "base officielle des codes postaux" (CSV, ``;``) | ``insee|postal|libellé|ligne 5`` |
| ``population`` | Melodi ``DS_POPULATIONS_REFERENCE`` and ``DS_RP_POPULATION_PRINC`` (by SEX, AGE), per commune | dataset + dimensions |
| ``income`` | Melodi ``DS_FILOSOFI_CC`` (``MED_SL``, ``PR_MD60``), per commune | dataset + dimensions |

The payload is the API's item (observation, CSV row as a dict) unchanged, plus
``_context``: what the request said that the item does not (the geography
``date``, the département's ``region``, an arrondissement's ``commune``, the
Melodi ``dataset``). A commune's département is the start of its INSEE code
(2 characters, 3 for overseas codes ``97x``), as the code is built.

**Monthly full refresh.** Each load of an entity is a whole snapshot in a new
batch; raw stays append-only. The watermark in ``ops.ingest_state`` is
``{"period": "YYYY-MM", "version": ...}`` (the version says what was asked for:
the geography date, the datasets, the postal file's SHA-256): a load in the
same month for the same version loads nothing (an empty batch), so re-runs
are idempotent; ``full_refresh=True`` takes a new snapshot anyway. **Staging
reads the latest snapshot**: the rows of the most recent non-empty batch of
the table, i.e. ``where _batch_id = (select _batch_id from raw.insee__<entity>
order by _loaded_at desc limit 1)``.

**Rate limit.** INSEE's public plan allows 30 requests a minute (Melodi
documents it; the geography API shares the portal): every INSEE request
passes one :class:`~audience.ratelimit.SlidingWindow` that never
exceeds that in any minute, and a 429 is still retried, honouring ``Retry-After``.

Connection ``insee`` (no key): host = API base URL (default
``https://api.insee.fr``); extra ``postal_codes_url`` (default La Poste's
datanova export), ``requests_per_minute`` (30), ``melodi_page_size`` (10,000),
``departements`` (comma list, to restrict Melodi), ``geo_date``. Without it,
the sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import psycopg

from audience import connections
from audience.ingest import BatchResult, Record, Reject, get_watermark, load_batch
from audience.ratelimit import SlidingWindow
from audience.retry import RetryPolicy, TransientError, call_with_retry, parse_retry_after

log = logging.getLogger(__name__)

SOURCE = "insee"
DEFAULT_BASE_URL = "https://api.insee.fr"
DEFAULT_POSTAL_CODES_URL = "https://datanova.laposte.fr/data-fair/api/v1/datasets/laposte-hexasmal/raw"
SANDBOX_POSTAL_CODES_PATH = "/data-fair/api/v1/datasets/laposte-hexasmal/raw"
POPULATION_DATASETS = ("DS_POPULATIONS_REFERENCE", "DS_RP_POPULATION_PRINC")
INCOME_DATASETS = ("DS_FILOSOFI_CC",)
POSTAL_COLUMNS = (
    "Code_commune_INSEE",
    "Nom_de_la_commune",
    "Code_postal",
    "Libellé_d_acheminement",
    "Ligne_5",
)
INSEE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
DEP_CODE = re.compile(r"^(\d{2}|2[AB]|97\d)$")
GEO_OBS = re.compile(r"^(?:\d{4}-)?COM-(\d{5}|2[AB]\d{3})$")
USER_AGENT = "audience-platform (open data ingest)"


@dataclass(frozen=True)
class InseeSettings:
    base_url: str
    postal_codes_url: str
    requests_per_minute: int = 30
    melodi_page_size: int = 10_000
    departements: tuple[str, ...] | None = None
    geo_date: str | None = None
    timeout: float = 60.0
    is_sandbox: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def resolve(cls) -> InseeSettings:
        """From the Airflow connection ``insee`` (no key needed), else the sandbox."""
        conn = connections.get("insee")
        if conn is None:
            base = connections.sandbox_url()
            assert base is not None
            return cls(base, base + SANDBOX_POSTAL_CODES_PATH, is_sandbox=True)
        extra = conn.extra

        def number(key: str, default: int, low: int, high: int) -> int:
            try:
                value = int(extra.get(key, default))
            except (TypeError, ValueError):
                value = low - 1
            if not low <= value <= high:
                raise connections.SettingError(
                    f"the Airflow connection 'insee': extra {key} must be a whole number from {low} to {high}"
                )
            return value

        deps = extra.get("departements")
        departements = tuple(d.strip() for d in str(deps).split(",") if d.strip()) if deps else None
        for dep in departements or ():
            if not DEP_CODE.match(dep):
                raise connections.SettingError(
                    f"the Airflow connection 'insee': extra departements holds {dep!r}, not a département code"
                )
        geo_date = extra.get("geo_date")
        if geo_date:
            _check_date(str(geo_date), "the Airflow connection 'insee' extra geo_date")
        return cls(
            conn.base_url() or DEFAULT_BASE_URL,
            str(extra.get("postal_codes_url") or DEFAULT_POSTAL_CODES_URL),
            requests_per_minute=number("requests_per_minute", 30, 1, 10_000),
            melodi_page_size=number("melodi_page_size", 10_000, 1, 10_000),
            departements=departements,
            geo_date=str(geo_date) if geo_date else None,
        )


def _check_date(value: str, what: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise connections.SettingError(f"{what} must be a date YYYY-MM-DD, not {value!r}") from None
    return value


def classify_http(exc: BaseException) -> TransientError | None:
    """429, 5xx, timeouts and dropped connections are worth retrying; other errors are not."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status == 429 or status >= 500:
            return TransientError(
                f"HTTP {status}",
                retry_after=parse_retry_after(exc.response.headers.get("Retry-After")),
                status=status,
            )
        return None
    if isinstance(exc, httpx.TransportError):
        return TransientError(type(exc).__name__)
    return None


class HttpSource:
    """GETs with retries (and an optional rate limiter), for the open-data sources."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout: float,
        retry: RetryPolicy,
        limiter: SlidingWindow | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self.retry = retry
        self.limiter = limiter
        self.requests = 0
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, params: Any = None, *, what: str) -> httpx.Response:
        def call() -> httpx.Response:
            if self.limiter is not None:
                self.limiter.acquire()
            self.requests += 1
            resp = self._client.get(url, params=params)
            resp.raise_for_status()
            return resp

        kwargs: dict[str, Any] = {"sleep": self._sleep} if self._sleep else {}
        try:
            return call_with_retry(
                call, what=f"{self.name} {what}", classify=classify_http, policy=self.retry, **kwargs
            )
        except httpx.HTTPStatusError as exc:
            raise RuntimeError(
                f"{self.name} {what}: HTTP {exc.response.status_code} for {exc.request.url.path}; "
                "check the connection's base URL and the request's parameters"
            ) from None

    def get_json(self, url: str, params: Any = None, *, what: str) -> Any:
        resp = self.get(url, params, what=what)
        try:
            return resp.json()
        except ValueError:
            raise RuntimeError(
                f"{self.name} {what}: the answer is not JSON (HTTP {resp.status_code}, "
                f"{resp.headers.get('content-type', 'no content type')}); is the base URL right?"
            ) from None


class InseeClient(HttpSource):
    """INSEE's APIs and La Poste's file, every INSEE request within the rate limit."""

    def __init__(
        self,
        settings: InseeSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: SlidingWindow | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        limiter = limiter or SlidingWindow(settings.requests_per_minute, 60.0)
        super().__init__(
            "INSEE",
            settings.base_url,
            timeout=settings.timeout,
            retry=settings.retry,
            limiter=limiter,
            transport=transport,
            sleep=sleep,
        )
        self.settings = settings
        self._plain = HttpSource(
            "La Poste postal codes",
            "",
            timeout=settings.timeout,
            retry=settings.retry,
            transport=transport,
            sleep=sleep,
        )

    def close(self) -> None:
        super().close()
        self._plain.close()

    def geo_list(self, plural: str, geo_date: str) -> list[Any]:
        items = self.get_json(f"/metadonnees/geo/{plural}", {"date": geo_date}, what=f"geo {plural}")
        if not isinstance(items, list):
            raise RuntimeError(f"INSEE geo {plural}: expected a JSON array, got {type(items).__name__}")
        return items

    def geo_related(self, kind: str, code: str, direction: str, of_type: str, geo_date: str) -> list[Any]:
        items = self.get_json(
            f"/metadonnees/geo/{kind}/{code}/{direction}",
            {"type": of_type, "date": geo_date},
            what=f"geo {kind} {code} {direction}",
        )
        return items if isinstance(items, list) else []

    def melodi_pages(self, dataset: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Every page of a Melodi query, page by page (``paging.isLast`` ends it)."""
        page = 1
        while True:
            query = {**params, "maxResult": str(self.settings.melodi_page_size), "page": str(page)}
            doc = self.get_json(f"/melodi/data/{dataset}", query, what=f"Melodi {dataset} page {page}")
            if not isinstance(doc, dict):
                raise RuntimeError(
                    f"INSEE Melodi {dataset}: expected a JSON object, got {type(doc).__name__}"
                )
            yield doc
            paging = doc.get("paging") or {}
            if paging.get("isLast", True) or not doc.get("observations"):
                return
            page += 1

    def postal_codes_csv(self) -> bytes:
        return self._plain.get(self.settings.postal_codes_url, what="download").content


# -- records -------------------------------------------------------------------------------------


def geo_record(item: Any, context: dict[str, Any]) -> Record | Reject:
    """One geography item; a missing or malformed code is a reject."""
    if not isinstance(item, dict):
        return Reject("not_an_object: geography item is not a JSON object", item)
    code = item.get("code")
    if not isinstance(code, str) or not re.fullmatch(r"[0-9A-Z]{2,5}", code):
        return Reject(f"missing_id: {item.get('type', 'geography')} item has no valid code", item)
    return Record(code, None, {**item, "_context": context})


def observation_record(dataset: str, obs: Any, geo_query: str) -> Record | Reject:
    """One Melodi observation: it needs a commune GEO, its dimensions and a numeric value."""
    if not isinstance(obs, dict):
        return Reject(f"not_an_object: {dataset} observation is not a JSON object", obs)
    dims = obs.get("dimensions")
    if not isinstance(dims, dict) or not isinstance(dims.get("GEO"), str):
        return Reject(f"missing_id: {dataset} observation has no GEO dimension", obs)
    if not GEO_OBS.match(dims["GEO"]):
        return Reject(f"bad_geo: {dataset} observation GEO {dims['GEO']!r} is not a commune", obs)
    value = ((obs.get("measures") or {}).get("OBS_VALUE_NIVEAU") or {}).get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Reject(f"bad_value: {dataset} observation {dims['GEO']} has no numeric OBS_VALUE_NIVEAU", obs)
    key = "|".join(f"{k}={dims[k]}" for k in sorted(dims))
    return Record(f"{dataset}|{key}", None, {**obs, "_context": {"dataset": dataset, "geo_query": geo_query}})


def postal_code_records(raw: bytes) -> Iterator[Record | Reject]:
    """Rows of La Poste's file (UTF-8, or Latin-1 as older exports), header optionally ``#``-prefixed."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip().lstrip("#").strip() for h in header]
    if header[: len(POSTAL_COLUMNS) - 1] != list(POSTAL_COLUMNS[:-1]):
        raise RuntimeError(
            f"La Poste postal codes: unexpected header {header}; expected {';'.join(POSTAL_COLUMNS)}"
        )
    seen: set[str] = set()
    for line_no, cells in enumerate(reader, start=2):
        if not cells or cells == [""]:
            continue
        if len(cells) not in (len(header), len(POSTAL_COLUMNS) - 1):
            yield Reject(
                f"bad_row: line {line_no} has {len(cells)} columns, expected {len(header)}", ";".join(cells)
            )
            continue
        row = dict(zip(POSTAL_COLUMNS, [c.strip() for c in cells], strict=False))
        row.setdefault("Ligne_5", "")
        if not INSEE_CODE.match(row["Code_commune_INSEE"]):
            yield Reject(f"bad_code: line {line_no} has no valid INSEE commune code", row)
            continue
        if not re.fullmatch(r"\d{5}", row["Code_postal"]):
            yield Reject(f"bad_code: line {line_no} has no valid postal code", row)
            continue
        rid = "|".join(
            row[c] for c in ("Code_commune_INSEE", "Code_postal", "Libellé_d_acheminement", "Ligne_5")
        )
        if rid in seen:
            continue  # the file repeats some rows verbatim
        seen.add(rid)
        yield Record(rid, None, row)


# -- loads ---------------------------------------------------------------------------------------


def _today(today: date | None) -> date:
    return today or datetime.now(UTC).date()


def _snapshot(
    conn: psycopg.Connection,
    entity: str,
    version: Any,
    items: Callable[[], Iterable[Record | Reject]],
    *,
    full_refresh: bool,
    today: date | None,
) -> BatchResult:
    """Load a whole snapshot of ``entity`` unless this month's snapshot of the same version is there."""
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    ensure_schemas(conn)
    conn.commit()
    watermark = get_watermark(conn, SOURCE, entity)
    new = {"period": _today(today).strftime("%Y-%m"), "version": version}
    current = not full_refresh and watermark == new
    if current:
        log.info(
            "%s.%s: this month's snapshot (%s) is already loaded; nothing to do",
            SOURCE,
            entity,
            new["period"],
        )
    return load_batch(
        conn,
        SOURCE,
        entity,
        iter(()) if current else items(),
        watermark_from=watermark,
        next_watermark=lambda: new,
    )


def _geo_date(settings: InseeSettings, since: str | None, today: date | None) -> str:
    if since:
        return _check_date(since[:10], "since (the geography's reference date)")
    return settings.geo_date or _today(today).isoformat()


def _client(
    settings: InseeSettings | None, client: InseeClient | None
) -> tuple[InseeSettings, InseeClient, bool]:
    if client is not None:
        return client.settings, client, False
    settings = settings or InseeSettings.resolve()
    return settings, InseeClient(settings), True


def _run(
    entity: str,
    settings: InseeSettings | None,
    client: InseeClient | None,
    body: Callable[[InseeSettings, InseeClient], BatchResult],
) -> BatchResult:
    settings, client, owned = _client(settings, client)
    try:
        result = body(settings, client)
    finally:
        if owned:
            client.close()
    log.info(
        "%s.%s: %d requests (%s)",
        SOURCE,
        entity,
        client.requests,
        "sandbox" if settings.is_sandbox else "INSEE",
    )
    return result


def load_regions(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: InseeSettings | None = None,
    client: InseeClient | None = None,
    today: date | None = None,
) -> BatchResult:
    """The régions as of ``since`` (a date; default the connection's ``geo_date`` or today)."""

    def body(s: InseeSettings, c: InseeClient) -> BatchResult:
        geo_date = _geo_date(s, since, today)
        ctx = {"date": geo_date}
        return _snapshot(
            conn,
            "regions",
            {"date": geo_date},
            lambda: (geo_record(i, ctx) for i in c.geo_list("regions", geo_date)),
            full_refresh=full_refresh,
            today=today,
        )

    return _run("regions", settings, client, body)


def load_departements(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: InseeSettings | None = None,
    client: InseeClient | None = None,
    today: date | None = None,
) -> BatchResult:
    """The départements, each with its région (``_context.region``, from the régions' descendants)."""

    def items(c: InseeClient, geo_date: str) -> Iterator[Record | Reject]:
        region_of: dict[str, str] = {}
        for region in c.geo_list("regions", geo_date):
            code = region.get("code") if isinstance(region, dict) else None
            if not isinstance(code, str):
                continue
            for dep in c.geo_related("region", code, "descendants", "Departement", geo_date):
                if isinstance(dep, dict) and isinstance(dep.get("code"), str):
                    region_of[dep["code"]] = code
        for item in c.geo_list("departements", geo_date):
            code = item.get("code") if isinstance(item, dict) else None
            yield geo_record(item, {"date": geo_date, "region": region_of.get(code or "")})

    def body(s: InseeSettings, c: InseeClient) -> BatchResult:
        geo_date = _geo_date(s, since, today)
        return _snapshot(
            conn,
            "departements",
            {"date": geo_date},
            lambda: items(c, geo_date),
            full_refresh=full_refresh,
            today=today,
        )

    return _run("departements", settings, client, body)


def load_communes(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: InseeSettings | None = None,
    client: InseeClient | None = None,
    today: date | None = None,
) -> BatchResult:
    """Communes and arrondissements municipaux (each with its commune in ``_context.commune``)."""

    def items(c: InseeClient, geo_date: str) -> Iterator[Record | Reject]:
        for item in c.geo_list("communes", geo_date):
            yield geo_record(item, {"date": geo_date})
        for item in c.geo_list("arrondissementsMunicipaux", geo_date):
            rec = geo_record(item, {"date": geo_date})
            if isinstance(rec, Record):
                parents = c.geo_related(
                    "arrondissementMunicipal", rec.record_id, "ascendants", "Commune", geo_date
                )
                codes = [p.get("code") for p in parents if isinstance(p, dict)]
                rec.payload["_context"]["commune"] = codes[0] if codes else None
            yield rec

    def body(s: InseeSettings, c: InseeClient) -> BatchResult:
        geo_date = _geo_date(s, since, today)
        return _snapshot(
            conn,
            "communes",
            {"date": geo_date},
            lambda: items(c, geo_date),
            full_refresh=full_refresh,
            today=today,
        )

    return _run("communes", settings, client, body)


def load_postal_codes(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: InseeSettings | None = None,
    client: InseeClient | None = None,
    today: date | None = None,
) -> BatchResult:
    """La Poste's postal codes ↔ communes (many-to-many); a new snapshot when the file changed or monthly."""
    del since  # a file has no window

    def body(s: InseeSettings, c: InseeClient) -> BatchResult:
        raw = c.postal_codes_csv()
        version = {"sha256": hashlib.sha256(raw).hexdigest()}
        return _snapshot(
            conn,
            "postal_codes",
            version,
            lambda: postal_code_records(raw),
            full_refresh=full_refresh,
            today=today,
        )

    return _run("postal_codes", settings, client, body)


def _departement_codes(s: InseeSettings, c: InseeClient, geo_date: str) -> list[str]:
    if s.departements:
        return list(s.departements)
    codes = [d.get("code") for d in c.geo_list("departements", geo_date) if isinstance(d, dict)]
    return sorted(code for code in codes if isinstance(code, str) and DEP_CODE.match(code))


def _melodi_items(c: InseeClient, datasets: tuple[str, ...], deps: list[str]) -> Iterator[Record | Reject]:
    for dataset in datasets:
        for dep in deps:
            geo_query = f"DEP-{dep}*COM"
            for page in c.melodi_pages(dataset, {"GEO": geo_query}):
                for obs in page.get("observations") or []:
                    yield observation_record(dataset, obs, geo_query)


def _load_melodi(
    conn: psycopg.Connection,
    entity: str,
    datasets: tuple[str, ...],
    *,
    full_refresh: bool,
    settings: InseeSettings | None,
    client: InseeClient | None,
    today: date | None,
) -> BatchResult:
    def body(s: InseeSettings, c: InseeClient) -> BatchResult:
        geo_date = s.geo_date or _today(today).isoformat()
        version = {"datasets": list(datasets), "departements": list(s.departements or ["*"])}
        return _snapshot(
            conn,
            entity,
            version,
            lambda: _melodi_items(c, datasets, _departement_codes(s, c, geo_date)),
            full_refresh=full_refresh,
            today=today,
        )

    return _run(entity, settings, client, body)


def load_population(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: InseeSettings | None = None,
    client: InseeClient | None = None,
    today: date | None = None,
) -> BatchResult:
    """Legal population and census population by sex and age, per commune (Melodi, per département)."""
    del since  # every published year is taken; staging picks the years it wants
    return _load_melodi(
        conn,
        "population",
        POPULATION_DATASETS,
        full_refresh=full_refresh,
        settings=settings,
        client=client,
        today=today,
    )


def load_income(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: InseeSettings | None = None,
    client: InseeClient | None = None,
    today: date | None = None,
) -> BatchResult:
    """Median standard of living (MED_SL) and poverty rate (PR_MD60) per commune (Melodi FILOSOFI)."""
    del since
    return _load_melodi(
        conn,
        "income",
        INCOME_DATASETS,
        full_refresh=full_refresh,
        settings=settings,
        client=client,
        today=today,
    )


LOADERS: dict[str, Callable[..., BatchResult]] = {
    "regions": load_regions,
    "departements": load_departements,
    "communes": load_communes,
    "postal_codes": load_postal_codes,
    "population": load_population,
    "income": load_income,
}
