"""HubSpot CRM contacts through ``hubspot-api-client``, incremental on ``lastmodifieddate``.

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
from audience.ingest import BatchResult, Record, Reject, get_watermark, load_batch, reset_watermark
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


def _classify(exc: BaseException) -> TransientError | None:
    from hubspot.crm.contacts.exceptions import ApiException  # noqa: PLC0415
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    if isinstance(exc, ApiException):
        status = exc.status or 0
        if status == 429 or status >= 500 or status == 0:
            headers = exc.headers or {}
            return TransientError(f"HTTP {status}", retry_after=parse_retry_after(headers.get("Retry-After")),
                                  status=status)
        return None
    if isinstance(exc, (HTTPError, ConnectionError, TimeoutError)):
        return TransientError(type(exc).__name__)
    return None


class HubSpotContacts:
    """Pages of raw contact objects, exactly as the API returned them."""

    def __init__(self, settings: HubSpotSettings, *, retry: RetryPolicy | None = None) -> None:
        from hubspot import HubSpot  # noqa: PLC0415

        self.settings = settings
        self.retry = retry or RetryPolicy()
        client = HubSpot(access_token=settings.token, host=settings.base_url.rstrip("/"))
        self._search = client.crm.contacts.search_api
        self.requests = 0

    def _page(self, since_ms: int | None, after: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": list(CONTACT_PROPERTIES),
            "limit": self.settings.page_size,
        }
        if since_ms is not None:
            request["filterGroups"] = [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}]}
            ]
        if after:
            request["after"] = after

        def call() -> dict[str, Any]:
            self.requests += 1
            resp = self._search.do_search(public_object_search_request=request, _preload_content=False,
                                          _request_timeout=(10, 60))
            return json.loads(resp.data)

        return call_with_retry(call, what="HubSpot contact search", classify=_classify, policy=self.retry)

    def iter_records(self, watermark: dict[str, Any] | None, state: dict[str, Any]) -> Iterator[Record | Reject]:
        """Yield every contact modified since the watermark; ``state`` receives the new watermark."""
        since_ms = watermark["ms"] if watermark else None
        seen_at_since = set(watermark.get("ids", [])) if watermark else set()
        state["watermark"] = watermark
        while True:
            after: str | None = None
            fetched_in_query = 0
            last_ms = since_ms
            ids_at_last: set[str] = set(seen_at_since)
            progressed = False
            while True:
                page = self._page(since_ms, after)
                results = page.get("results") or []
                for obj in results:
                    fetched_in_query += 1
                    item = self._record(obj)
                    if isinstance(item, Reject):
                        yield item
                        continue
                    ms = _ms(item.updated_at)
                    if since_ms is not None and ms == since_ms and item.record_id in seen_at_since:
                        continue  # already loaded by the previous query or run
                    if last_ms is None or ms > last_ms:
                        last_ms, ids_at_last = ms, {item.record_id}
                        progressed = True
                    elif ms == last_ms:
                        ids_at_last.add(item.record_id)
                        progressed = True
                    yield item
                    state["watermark"] = {"ms": last_ms, "ids": sorted(ids_at_last)}
                after = ((page.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                if fetched_in_query + self.settings.page_size > SEARCH_CAP:
                    break  # the next page would pass the search cap: restart from the watermark
            if not progressed or last_ms == since_ms and ids_at_last == seen_at_since:
                raise RuntimeError(
                    f"HubSpot search: more than {SEARCH_CAP} contacts share lastmodifieddate={last_ms}; "
                    "cannot page past the search cap"
                )
            since_ms, seen_at_since = last_ms, ids_at_last

    @staticmethod
    def _record(obj: Any) -> Record | Reject:
        if not isinstance(obj, dict):
            return Reject("not_an_object: contact is not a JSON object", obj)
        record_id = obj.get("id")
        if not record_id or not str(record_id).isdigit():
            return Reject("missing_id: contact has no numeric id", obj)
        updated = obj.get("updatedAt") or (obj.get("properties") or {}).get("lastmodifieddate")
        try:
            _ms(str(updated))
        except (TypeError, ValueError):
            return Reject(f"bad_timestamp: updatedAt is not ISO 8601 (contact {record_id})", obj)
        return Record(str(record_id), str(updated), obj)


def load_contacts(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: HubSpotSettings | None = None,
) -> BatchResult:
    """Load contacts modified since the stored watermark (or ``since``, or everything)."""
    settings = settings or HubSpotSettings.resolve()
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    ensure_schemas(conn)
    if full_refresh:
        reset_watermark(conn, SOURCE, "contacts")
        conn.commit()
    watermark = get_watermark(conn, SOURCE, "contacts")
    if since:
        watermark = {"ms": _ms(since if "T" in since else f"{since}T00:00:00+00:00"), "ids": []}
    source = HubSpotContacts(settings)
    state: dict[str, Any] = {}
    result = load_batch(
        conn,
        SOURCE,
        "contacts",
        source.iter_records(watermark, state),
        watermark_from=watermark,
        next_watermark=lambda: state.get("watermark"),
    )
    log.info("hubspot.contacts: %d search requests (%s)", source.requests,
             "sandbox" if settings.is_sandbox else "HubSpot")
    return result


