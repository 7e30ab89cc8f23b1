"""Salesforce Contact, Lead and Opportunity through ``simple-salesforce``, incremental on ``SystemModstamp``.

Each run sends one SOQL query per object,
``SELECT <fields> FROM <object> WHERE SystemModstamp >= <watermark, to the second>
ORDER BY SystemModstamp, Id``, and follows ``nextRecordsUrl`` to the end (query
locators have no result cap). The watermark stored in ``ops.ingest_state`` is
the last ``SystemModstamp`` seen (epoch ms) plus the ids read at that exact
instant: records at that instant that were already loaded are skipped, later
changes at the same instant are not missed, and a re-run loads nothing twice.

Connection ``salesforce``: host = instance URL, password = access (session)
token, extra ``api_version`` (default 60.0) and ``batch_size`` (200..2000).
Without it the sandbox is used. The token is never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from audience.retry import RetryPolicy, TransientError, call_with_retry

log = logging.getLogger(__name__)

SOURCE = "salesforce"
SANDBOX_TOKEN = "sandbox-session"
DEFAULT_VERSION = "60.0"
COMMON = ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted")
OBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "contacts": (
        "Contact",
        COMMON
        + (
            "FirstName",
            "LastName",
            "Email",
            "Phone",
            "MailingPostalCode",
            "MailingCity",
            "MailingCountry",
            "Birthdate",
            "HasOptedOutOfEmail",
            "LeadSource",
        ),
    ),
    "leads": (
        "Lead",
        COMMON
        + (
            "FirstName",
            "LastName",
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
    ),
    "opportunities": (
        "Opportunity",
        COMMON
        + ("Name", "ContactId", "Amount", "StageName", "Probability", "CloseDate", "IsClosed", "IsWon"),
    ),
}
ID_PATTERN = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")


@dataclass(frozen=True)
class SalesforceSettings:
    instance_url: str
    token: str = field(repr=False)
    version: str = DEFAULT_VERSION
    batch_size: int = 2000
    is_sandbox: bool = False

    @classmethod
    def resolve(cls) -> SalesforceSettings:
        """From the Airflow connection ``salesforce`` (password = access token), else the sandbox."""
        conn = connections.get("salesforce")
        if conn is None:
            return cls(connections.sandbox_url() or "", SANDBOX_TOKEN, is_sandbox=True)
        if not conn.password:
            raise connections.SettingError(
                "the Airflow connection 'salesforce' has no password: put the access (session) token there"
            )
        if not conn.base_url():
            raise connections.SettingError(
                "the Airflow connection 'salesforce' has no host: put the instance URL there, "
                "e.g. https%3A%2F%2Fyourorg.my.salesforce.com"
            )
        version = str(conn.extra.get("api_version", DEFAULT_VERSION)).lstrip("v")
        if not re.fullmatch(r"\d{2}\.\d", version):
            raise connections.SettingError(
                f"salesforce connection extra api_version={version!r} must look like 60.0"
            )
        try:
            batch = int(conn.extra.get("batch_size", 2000))
        except ValueError:
            raise connections.SettingError(
                "salesforce connection extra batch_size must be a number"
            ) from None
        if not 200 <= batch <= 2000:
            raise connections.SettingError(
                "salesforce connection extra batch_size must be between 200 and 2000"
            )
        return cls(conn.base_url() or "", conn.password, version, batch)


def parse_time(value: str) -> datetime:
    """A Salesforce datetime (``2026-05-01T10:20:30.000+0000``) or any ISO 8601 one, timezone-aware."""
    text = str(value).strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _ms(value: str) -> int:
    return int(parse_time(value).timestamp() * 1000)


def _classify(exc: BaseException) -> TransientError | None:
    import requests  # noqa: PLC0415
    from simple_salesforce.exceptions import SalesforceError  # noqa: PLC0415

    if isinstance(exc, SalesforceError):
        status = int(getattr(exc, "status", 0) or 0)
        if status == 429 or status >= 500:
            return TransientError(f"HTTP {status}", status=status)
        return None
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return TransientError(type(exc).__name__)
    return None


class SalesforceQuery:
    """Records of one object modified since a watermark, page by page, exactly as the API returned them."""

    def __init__(
        self, settings: SalesforceSettings, entity: str, *, retry: RetryPolicy | None = None
    ) -> None:
        from simple_salesforce import Salesforce  # noqa: PLC0415

        if entity not in OBJECTS:
            raise ValueError(f"unknown Salesforce entity {entity!r}; use one of {', '.join(OBJECTS)}")
        self.settings = settings
        self.entity = entity
        self.sobject, self.fields = OBJECTS[entity]
        self.retry = retry or RetryPolicy()
        base = settings.instance_url.rstrip("/")
        self._sf = Salesforce(instance_url=base, session_id=settings.token, version=settings.version)
        # simple-salesforce assumes https; the local sandbox speaks plain http
        self._sf.base_url = f"{base}/services/data/v{settings.version}/"
        self._headers = {"Sforce-Query-Options": f"batchSize={settings.batch_size}"}
        self.requests = 0

    def soql(self, since_ms: int | None) -> str:
        where = ""
        if since_ms is not None:
            stamp = datetime.fromtimestamp(since_ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            where = f" WHERE SystemModstamp >= {stamp}"
        return f"SELECT {', '.join(self.fields)} FROM {self.sobject}{where} ORDER BY SystemModstamp, Id"

    def _call(self, fn: Any, arg: str, what: str) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            self.requests += 1
            return fn(arg, headers=self._headers, timeout=(10, 120))

        return call_with_retry(
            call, what=f"Salesforce {self.sobject} {what}", classify=_classify, policy=self.retry
        )

    def pages(self, since_ms: int | None) -> Iterator[list[Any]]:
        page = self._call(self._sf.query, self.soql(since_ms), "query")
        while True:
            yield page.get("records") or []
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            locator = str(next_url).rstrip("/").rsplit("/", 1)[-1]
            page = self._call(self._sf.query_more, locator, "query_more")

    def iter_records(
        self, watermark: dict[str, Any] | None, state: dict[str, Any]
    ) -> Iterator[Record | Reject]:
        """Yield every record modified since the watermark; ``state["watermark"]`` follows the last one."""
        mark = InstantWatermark(watermark, "ms")
        state["watermark"] = watermark
        for records in self.pages(mark.instant):
            for obj in records:
                item = self._record(obj)
                if isinstance(item, Reject):
                    yield item
                    continue
                ms = _ms(item.updated_at or "")
                if not mark.is_new(ms, item.record_id):
                    continue  # loaded by a previous run (the query is inclusive, to the second)
                mark.saw(ms, item.record_id)
                yield item
                state["watermark"] = mark.value()

    def _record(self, obj: Any) -> Record | Reject:
        kind = self.sobject
        if not isinstance(obj, dict):
            return Reject(f"not_an_object: {kind} record is not a JSON object", obj)
        record_id = obj.get("Id")
        if not isinstance(record_id, str) or not ID_PATTERN.match(record_id):
            return Reject(f"missing_id: {kind} record has no valid 15/18-character Id", obj)
        stamp = obj.get("SystemModstamp")
        try:
            updated = parse_time(str(stamp))
        except (TypeError, ValueError):
            return Reject(f"bad_timestamp: SystemModstamp is not a datetime ({kind} {record_id})", obj)
        return Record(record_id, updated.isoformat(), obj)


def _load(
    conn: psycopg.Connection,
    entity: str,
    *,
    full_refresh: bool,
    since: str | None,
    settings: SalesforceSettings | None,
) -> BatchResult:
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    settings = settings or SalesforceSettings.resolve()
    ensure_schemas(conn)
    if full_refresh:
        reset_watermark(conn, SOURCE, entity)
        conn.commit()
    watermark = get_watermark(conn, SOURCE, entity)
    if since:
        watermark = {"ms": _ms(since if "T" in since else f"{since}T00:00:00+00:00"), "ids": []}
    source = SalesforceQuery(settings, entity)
    state: dict[str, Any] = {}
    result = load_batch(
        conn,
        SOURCE,
        entity,
        source.iter_records(watermark, state),
        watermark_from=watermark,
        next_watermark=lambda: state.get("watermark"),
    )
    log.info(
        "salesforce.%s: %d API requests (%s)",
        entity,
        source.requests,
        "sandbox" if settings.is_sandbox else "Salesforce",
    )
    return result


def load_contacts(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: SalesforceSettings | None = None,
) -> BatchResult:
    """Load Contacts changed since the watermark into ``raw.salesforce__contacts``."""
    return _load(conn, "contacts", full_refresh=full_refresh, since=since, settings=settings)


def load_leads(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: SalesforceSettings | None = None,
) -> BatchResult:
    """Load Leads changed since the watermark into ``raw.salesforce__leads``."""
    return _load(conn, "leads", full_refresh=full_refresh, since=since, settings=settings)


def load_opportunities(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: SalesforceSettings | None = None,
) -> BatchResult:
    """Load Opportunities changed since the watermark into ``raw.salesforce__opportunities``."""
    return _load(conn, "opportunities", full_refresh=full_refresh, since=since, settings=settings)
