"""HubSpot CRM contacts and deals through ``hubspot-api-client``, incremental on the last-modified date.

Contacts carry ``lastmodifieddate``, deals ``hs_lastmodifieddate``; both are
read by the same search paging (:class:`HubSpotSearch` with a :class:`SearchSpec`).
A deal's contact is its ``contact_id`` property (search answers carry no
associations; the sandbox models the association as that deal property).

Search answers at most 10,000 results per query, so pages are read with the
``after`` cursor until the cap nears, then a new query starts from the last
modification time seen (GTE), skipping the ids already read at that exact
instant. The watermark stored in ``ops.ingest_state`` is that instant plus
those ids, so a re-run of the same window loads nothing twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

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
from audience.retry import RetryPolicy, TransientError, call_with_retry, parse_retry_after

log = logging.getLogger(__name__)

SOURCE = "hubspot"
CONTACT_PROPERTIES = (
    "email",
    "phone",
    "firstname",
    "lastname",
    "date_of_birth",
    "gender",
    "zip",
    "city",
    "country",
    "hs_language",
    "lifecyclestage",
    "marketing_consent",
    "erasure_requested",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
)
DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "dealstage",
    "closedate",
    "pipeline",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
    "contact_id",
)
SEARCH_CAP = 10_000  # HubSpot answers at most this many results per search query
SANDBOX_TOKEN = "sandbox-token"


@dataclass(frozen=True)
class HubSpotSettings:
    base_url: str
    token: str = field(repr=False)
    page_size: int = 100
    is_sandbox: bool = False

    @classmethod
    def resolve(cls) -> HubSpotSettings:
        """From the Airflow connection ``hubspot`` (password = private-app token), else the sandbox."""
        conn = connections.get("hubspot")
        if conn is not None:
            if not conn.password:
                raise connections.SettingError(
                    "the Airflow connection 'hubspot' has no password: put the private app token there"
                )
            page_size = int(conn.extra.get("page_size", 100))
            if not 1 <= page_size <= 200:
                raise connections.SettingError("hubspot connection extra page_size must be between 1 and 200")
            return cls(conn.base_url() or "https://api.hubapi.com", conn.password, page_size)
        return cls(connections.sandbox_url(), SANDBOX_TOKEN, 100, is_sandbox=True)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass(frozen=True)
class SearchSpec:
    """One searchable CRM object: its API name (= raw entity), last-modified property and properties."""

    entity: str
    modified: str
    properties: tuple[str, ...]
    noun: str


CONTACTS = SearchSpec("contacts", "lastmodifieddate", CONTACT_PROPERTIES, "contact")
DEALS = SearchSpec("deals", "hs_lastmodifieddate", DEAL_PROPERTIES, "deal")


def _classify(exc: BaseException) -> TransientError | None:
    from hubspot.crm.contacts.exceptions import ApiException  # noqa: PLC0415
    from hubspot.crm.deals.exceptions import ApiException as DealsApiException  # noqa: PLC0415
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    if isinstance(exc, (ApiException, DealsApiException)):
        status = exc.status or 0
        if status == 429 or status >= 500 or status == 0:
            headers = exc.headers or {}
            return TransientError(
                f"HTTP {status}", retry_after=parse_retry_after(headers.get("Retry-After")), status=status
            )
        return None
    if isinstance(exc, (HTTPError, ConnectionError, TimeoutError)):
        return TransientError(type(exc).__name__)
    return None


class HubSpotSearch:
    """Pages of raw CRM objects (contacts by default, or deals), exactly as the API returned them."""

    def __init__(
        self, settings: HubSpotSettings, spec: SearchSpec = CONTACTS, *, retry: RetryPolicy | None = None
    ) -> None:
        from hubspot import HubSpot  # noqa: PLC0415

        self.settings = settings
        self.spec = spec
        self.retry = retry or RetryPolicy()
        client = HubSpot(access_token=settings.token, host=settings.base_url.rstrip("/"))
        self._search = getattr(client.crm, spec.entity).search_api
        self.requests = 0

    def _page(self, since_ms: int | None, after: str | None) -> dict[str, Any]:
        modified = self.spec.modified
        request: dict[str, Any] = {
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": list(self.spec.properties),
            "limit": self.settings.page_size,
        }
        if since_ms is not None:
            request["filterGroups"] = [
                {"filters": [{"propertyName": modified, "operator": "GTE", "value": str(since_ms)}]}
            ]
        if after:
            request["after"] = after

        def call() -> dict[str, Any]:
            self.requests += 1
            resp = self._search.do_search(
                public_object_search_request=request, _preload_content=False, _request_timeout=(10, 60)
            )
            return json.loads(resp.data)

        return call_with_retry(
            call, what=f"HubSpot {self.spec.noun} search", classify=_classify, policy=self.retry
        )

    def iter_records(
        self, watermark: dict[str, Any] | None, state: dict[str, Any]
    ) -> Iterator[Record | Reject]:
        """Yield every object modified since the watermark; ``state`` receives the new watermark."""
        mark = InstantWatermark(watermark, "ms")
        state["watermark"] = watermark
        while True:
            # one search query from the watermark; a new query restarts from where this one got to
            after: str | None = None
            fetched_in_query = 0
            while True:
                page = self._page(mark.instant, after)
                results = page.get("results") or []
                for obj in results:
                    fetched_in_query += 1
                    item = self._record(obj)
                    if isinstance(item, Reject):
                        yield item
                        continue
                    ms = _ms(item.updated_at)
                    if not mark.is_new(ms, item.record_id):
                        continue  # already loaded by the previous query or run
                    mark.saw(ms, item.record_id)
                    yield item
                    state["watermark"] = mark.value()
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                if fetched_in_query + self.settings.page_size > SEARCH_CAP:
                    break  # the next page would pass the search cap: restart from the watermark
            if not mark.advanced:
                raise RuntimeError(
                    f"HubSpot search: more than {SEARCH_CAP} {self.spec.entity} share "
                    f"{self.spec.modified}={mark.instant}; "
                    "cannot page past the search cap"
                )
            mark = InstantWatermark(mark.value(), "ms")

    def _record(self, obj: Any) -> Record | Reject:
        noun = self.spec.noun
        if not isinstance(obj, dict):
            return Reject(f"not_an_object: {noun} is not a JSON object", obj)
        record_id = obj.get("id")
        if not record_id or not str(record_id).isdigit():
            return Reject(f"missing_id: {noun} has no numeric id", obj)
        updated = obj.get("updatedAt") or (obj.get("properties") or {}).get(self.spec.modified)
        try:
            _ms(str(updated))
        except (TypeError, ValueError):
            return Reject(f"bad_timestamp: updatedAt is not ISO 8601 ({noun} {record_id})", obj)
        return Record(str(record_id), str(updated), obj)


HubSpotContacts = HubSpotSearch  # HubSpotSearch(settings) reads contacts


def _load(
    conn: psycopg.Connection,
    spec: SearchSpec,
    *,
    full_refresh: bool,
    since: str | None,
    settings: HubSpotSettings | None,
) -> BatchResult:
    settings = settings or HubSpotSettings.resolve()
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    ensure_schemas(conn)
    if full_refresh:
        reset_watermark(conn, SOURCE, spec.entity)
        conn.commit()
    watermark = get_watermark(conn, SOURCE, spec.entity)
    if since:
        watermark = {"ms": _ms(since if "T" in since else f"{since}T00:00:00+00:00"), "ids": []}
    source = HubSpotSearch(settings, spec)
    state: dict[str, Any] = {}
    result = load_batch(
        conn,
        SOURCE,
        spec.entity,
        source.iter_records(watermark, state),
        watermark_from=watermark,
        next_watermark=lambda: state.get("watermark"),
    )
    log.info(
        "hubspot.%s: %d search requests (%s)",
        spec.entity,
        source.requests,
        "sandbox" if settings.is_sandbox else "HubSpot",
    )
    return result


def load_contacts(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: HubSpotSettings | None = None,
) -> BatchResult:
    """Load contacts modified since the stored watermark (or ``since``, or everything)."""
    return _load(conn, CONTACTS, full_refresh=full_refresh, since=since, settings=settings)


def load_deals(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: HubSpotSettings | None = None,
) -> BatchResult:
    """Load deals modified since the stored watermark (``hs_lastmodifieddate``) into ``raw.hubspot__deals``."""
    return _load(conn, DEALS, full_refresh=full_refresh, since=since, settings=settings)
