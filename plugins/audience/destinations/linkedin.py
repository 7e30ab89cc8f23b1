"""LinkedIn matched audiences (DMP segments) through LinkedIn's versioned REST API, with ``requests``.

Configuration (:class:`LinkedInSettings`) comes from the Airflow connection
``linkedin_ads`` (password = access token, host = base URL, default
``https://api.linkedin.com``; extra ``ad_account_id``, optionally
``api_version`` (``YYYYMM``), ``max_elements``, ``create_wait_s``,
``timeout_s``), or, without one, from the local sandbox (token
``sandbox-token``, ad account 510000001). Every call carries
``Authorization: Bearer``, ``LinkedIn-Version`` and
``X-Restli-Protocol-Version: 2.0.0``.

Members. A member is the SHA-256 of the trimmed, lowercased e-mail
(``SHA256_EMAIL``): ``marts.audience_members.email_sha256``, computed by the
same rule LinkedIn documents. Members without an e-mail hash are not sent.
Names are not sent: LinkedIn's ``firstName``/``lastName`` are plain text
fields, and the mart holds only Meta-normalised *hashes* of names; sending raw
names would take PII out of the warehouse for a small gain in match rate.
The identity is the e-mail hash itself, and the engine deduplicates members
by it (``dedupe_members``): two people sharing an address are one LinkedIn
member, removed only when neither is in the audience any more.

Batching: at most ``max_elements`` (5,000, what peers use; LinkedIn's cap is
unverified) elements per ``POST /rest/dmpSegments/{id}/users``
(``X-RestLi-Method: BATCH_CREATE``), ~110 bytes each, so ~550 KB a call.
LinkedIn answers one status per element; elements refused (status not 2xx)
are counted as invalid, with LinkedIn's message as the reason (keyed by hash).

Retries (:mod:`audience.retry`: exponential back-off with jitter, honouring
``Retry-After``) on 429, 5xx, non-JSON answers to a ``/users`` call and
connection failures. Anything else raises
:class:`~audience.destinations.base.DestinationError` with LinkedIn's
``serviceErrorCode``, ``code`` and message; nothing sent appears in it.

A new segment is created with ``POST /rest/dmpSegments`` (201, id in
``x-restli-id``); LinkedIn asks to wait about 5 s before streaming users into
it (``create_wait_s``; 0 on the sandbox). A segment needs 300 matched members
to serve in a campaign: :data:`MIN_AUDIENCE_SIZE`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from audience import connections
from audience.destinations.base import DestinationError, T, UploadResult, chunk_by_size
from audience.identity import is_sha256_hex
from audience.retry import GaveUp, RetryPolicy, TransientError, call_with_retry, parse_retry_after
from audience.settings import SettingError

log = logging.getLogger(__name__)

NAME = "linkedin"
CONNECTION_ID = "linkedin_ads"
BASE_URL = "https://api.linkedin.com"
DEFAULT_API_VERSION = "202604"
MAX_ELEMENTS = 5_000
MIN_AUDIENCE_SIZE = 300
CREATE_WAIT_S = 5.0
SOURCE_PLATFORM = "AUDIENCE_PLATFORM"

SANDBOX_TOKEN = "sandbox-token"
SANDBOX_AD_ACCOUNT = "510000001"

ID_TYPE = "SHA256_EMAIL"
SCHEMA: tuple[str, ...] = (ID_TYPE,)
MEMBER_COLUMNS: tuple[str, ...] = ("email_sha256",)
IDENTITY_COLUMNS: tuple[str, ...] = ("email_sha256",)

# {"elements":[{"action":"REMOVE","userIds":[{"idType":"SHA256_EMAIL","idValue":"<64>"}]},...]}
_ELEMENT_BYTES = 110
_MAX_BODY_BYTES = 50_000_000


@dataclass(frozen=True)
class LinkedInSettings:
    """Where and as whom to call LinkedIn's Marketing API."""

    access_token: str = field(repr=False)
    ad_account_id: str
    base_url: str = BASE_URL
    api_version: str = DEFAULT_API_VERSION
    timeout_s: float = 120.0
    max_elements: int = MAX_ELEMENTS
    create_wait_s: float = CREATE_WAIT_S
    source: str = "explicit"

    def __post_init__(self) -> None:
        if not self.access_token:
            raise SettingError(f"LinkedIn settings ({self.source}) have no access token")
        account = str(self.ad_account_id).strip().removeprefix("urn:li:sponsoredAccount:")
        if not account.isdigit():
            raise SettingError(
                f"LinkedIn ad account id {self.ad_account_id!r} ({self.source}) is not numeric; "
                "set the connection extra ad_account_id to the digits of urn:li:sponsoredAccount:<id>"
            )
        object.__setattr__(self, "ad_account_id", account)
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not re.fullmatch(r"20\d{2}(0[1-9]|1[0-2])", self.api_version):
            raise SettingError(
                f"LinkedIn api_version {self.api_version!r} ({self.source}) is not like 202604"
            )
        if not 1 <= self.max_elements <= MAX_ELEMENTS:
            raise SettingError(f"max_elements={self.max_elements} ({self.source}) must be 1..{MAX_ELEMENTS}")
        if self.create_wait_s < 0:
            raise SettingError(f"create_wait_s={self.create_wait_s} ({self.source}) must be zero or more")

    @property
    def account_urn(self) -> str:
        return f"urn:li:sponsoredAccount:{self.ad_account_id}"

    @property
    def is_sandbox(self) -> bool:
        return self.source == "sandbox"

    @classmethod
    def resolve(cls) -> LinkedInSettings:
        """The Airflow connection ``linkedin_ads`` when defined, else the local sandbox."""
        conn = connections.get(CONNECTION_ID)
        if conn is not None:
            return cls.from_connection(conn)
        return cls.sandbox()

    @classmethod
    def sandbox(cls, url: str | None = None) -> LinkedInSettings:
        return cls(
            access_token=SANDBOX_TOKEN,
            ad_account_id=SANDBOX_AD_ACCOUNT,
            base_url=url or connections.sandbox_url(required=True) or "",
            create_wait_s=0.0,
            source="sandbox",
        )

    @classmethod
    def from_connection(cls, conn: connections.Conn) -> LinkedInSettings:
        extra = conn.extra or {}
        source = f"connection {conn.conn_id}"
        if not extra.get("ad_account_id"):
            raise SettingError(
                f"{source} has no extra ad_account_id; add the digits of urn:li:sponsoredAccount:<id>"
            )
        try:
            return cls(
                access_token=conn.password or "",
                ad_account_id=str(extra["ad_account_id"]),
                base_url=str(extra.get("base_url") or conn.base_url() or BASE_URL),
                api_version=str(extra.get("api_version") or DEFAULT_API_VERSION),
                timeout_s=float(extra.get("timeout_s") or 120.0),
                max_elements=int(extra.get("max_elements") or MAX_ELEMENTS),
                create_wait_s=float(extra.get("create_wait_s", CREATE_WAIT_S)),
                source=source,
            )
        except SettingError:
            raise
        except (TypeError, ValueError) as exc:
            raise SettingError(f"{source}: a numeric extra field is not a number ({exc})") from None


# --------------------------------------------------------------------------- answers


def _error_of(response: requests.Response, what: str) -> TransientError | DestinationError:
    """A failed answer as something to wait for (429, 5xx) or LinkedIn's permanent refusal."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or f"HTTP {status} without a LinkedIn error body")
    code = body.get("code")
    if status == 429 or status >= 500:
        return TransientError(
            f"LinkedIn answered {what} with HTTP {status} ({code or 'no code'})",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            status=status,
        )
    service_code = body.get("serviceErrorCode")
    return DestinationError(
        f"{what}: {code + ': ' if code else ''}{message}",
        destination=NAME,
        code=service_code if isinstance(service_code, int) else None,
        http_status=status,
    )


def check_users_answer(response: requests.Response, hashes: Sequence[str]) -> UploadResult:
    """One status per element sent; non-2xx statuses are invalid members (LinkedIn's message kept)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    statuses = body.get("elements") if isinstance(body, dict) else None
    if not isinstance(statuses, list) or len(statuses) != len(hashes):
        raise DestinationError(
            f"LinkedIn acknowledged {len(statuses) if isinstance(statuses, list) else 'no'} element statuses "
            f"for {len(hashes)} elements sent; the batch is not recorded as synced",
            destination=NAME,
            http_status=response.status_code,
        )
    result = UploadResult(sent=len(hashes))
    for value, item in zip(hashes, statuses, strict=True):
        status = item.get("status") if isinstance(item, dict) else None
        if isinstance(status, int) and 200 <= status < 300:
            result.received += 1
            continue
        result.invalid += 1
        if len(result.invalid_samples) < 50:
            error = item.get("error") if isinstance(item, dict) else None
            reason = (error or {}).get("message") if isinstance(error, dict) else None
            result.invalid_samples[value] = str(reason or f"status {status}")
    return result


def is_audience_gone(error: DestinationError) -> bool:
    """True when LinkedIn says the segment does not exist any more (404 on its users)."""
    return error.destination == NAME and error.http_status == 404


# --------------------------------------------------------------------------- destination


class LinkedInDestination:
    """DMP segments (matched audiences) of one LinkedIn ad account."""

    name = NAME
    min_audience_size = MIN_AUDIENCE_SIZE
    schema: tuple[str, ...] = SCHEMA
    member_columns: tuple[str, ...] = MEMBER_COLUMNS
    identity_columns: tuple[str, ...] = IDENTITY_COLUMNS
    dedupe_members = True

    def __init__(
        self,
        settings: LinkedInSettings | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings or LinkedInSettings.resolve()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {self.settings.access_token}",
                "LinkedIn-Version": self.settings.api_version,
                "X-Restli-Protocol-Version": "2.0.0",
            }
        )
        self._requests = 0
        log.info(
            "linkedin destination: %s, ad account %s, version %s",
            "sandbox" if self.settings.is_sandbox else "LinkedIn API",
            self.settings.ad_account_id,
            self.settings.api_version,
        )

    @property
    def requests(self) -> int:
        """HTTP calls made (retries and list pages included)."""
        return self._requests

    # -- transport ----------------------------------------------------------
    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        """One HTTP call; a 2xx answer, else TransientError / DestinationError."""
        self._requests += 1
        try:
            response = self.session.request(
                method, f"{self.settings.base_url}{path}", timeout=self.settings.timeout_s, **kwargs
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"connection to LinkedIn failed ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise _error_of(response, what)
        return response

    def _retrying(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call_with_retry(
                call,
                what=f"LinkedIn: {what}",
                classify=lambda exc: None,
                policy=self.retry,
                sleep=self._sleep,
            )
        except GaveUp as exc:
            raise DestinationError(str(exc), destination=NAME, retryable=True) from None

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientError(f"LinkedIn's answer to {what} is not JSON", status=response.status_code)
        return body

    # -- segments -----------------------------------------------------------
    def _list(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        start, count = 0, 100
        while True:
            params = {"q": "account", "account": self.settings.account_urn, "start": start, "count": count}
            body = self._json(
                self._send("GET", "/rest/dmpSegments", "list DMP segments", params=params), "list"
            )
            page = [e for e in body.get("elements") or [] if isinstance(e, dict)]
            found.extend(page)
            total = (body.get("paging") or {}).get("total")
            start += count
            if not page or (isinstance(total, int) and start >= total) or len(page) < count:
                return found

    def list_segments(self) -> list[dict[str, Any]]:
        """Every DMP segment of the ad account (all pages)."""
        return self._retrying("list DMP segments", self._list)

    def find_or_create_audience(self, name: str, description: str) -> str:
        """The account's segment called ``name``, created (USER, private) if absent.

        Listing and creating run in one retry loop: if a create succeeded but its
        answer was lost, the retry finds the segment instead of creating a twin.
        """

        def call() -> str:
            found = _pick(self._list(), name)
            if found:
                return found
            body = {
                "name": name,
                "sourcePlatform": SOURCE_PLATFORM,
                "sourceSegmentId": name,
                "account": self.settings.account_urn,
                "accessPolicy": "PRIVATE",
                "type": "USER",
                "destinations": [{"destination": "LINKEDIN"}],
            }
            response = self._send("POST", "/rest/dmpSegments", "create a DMP segment", json=body)
            segment_id = response.headers.get("x-restli-id", "")
            if not segment_id:
                raise DestinationError("creating a DMP segment returned no x-restli-id", destination=NAME)
            log.info(
                "linkedin: created DMP segment %s; waiting %.0fs", segment_id, self.settings.create_wait_s
            )
            if self.settings.create_wait_s:
                self._sleep(self.settings.create_wait_s)
            return segment_id

        return self._retrying("find or create a DMP segment", call)

    # -- members ------------------------------------------------------------
    def batches(self, items: Iterable[T], values: Callable[[T], Sequence[str]]) -> Iterator[list[T]]:
        return chunk_by_size(
            items,
            size=lambda item: _ELEMENT_BYTES,
            max_items=self.settings.max_elements,
            max_bytes=_MAX_BODY_BYTES,
        )

    def add(self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]) -> UploadResult:
        return self._stream(audience_id, schema, rows, "ADD")

    def remove(self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]) -> UploadResult:
        return self._stream(audience_id, schema, rows, "REMOVE")

    def _stream(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]], action: str
    ) -> UploadResult:
        if tuple(schema) != SCHEMA:
            raise DestinationError(f"schema {list(schema)} is not {list(SCHEMA)}", destination=NAME)
        total = UploadResult()
        for batch in self.batches(rows, values=lambda row: row):
            total.merge(self._users_request(audience_id, [row[0] for row in batch], action))
        return total

    def _users_request(self, audience_id: str, hashes: list[str], action: str) -> UploadResult:
        for number, value in enumerate(hashes):
            if not is_sha256_hex(value):
                raise DestinationError(
                    f"element {number} is not a SHA-256 hex digest; refusing to send unhashed data",
                    destination=NAME,
                )
        body = {
            "elements": [{"action": action, "userIds": [{"idType": ID_TYPE, "idValue": v}]} for v in hashes]
        }
        what = f"{action} {len(hashes)} members on DMP segment {audience_id}"
        before = self._requests

        def call() -> UploadResult:
            response = self._send(
                "POST",
                f"/rest/dmpSegments/{audience_id}/users",
                what,
                json=body,
                headers={"X-RestLi-Method": "BATCH_CREATE"},
            )
            try:
                return check_users_answer(response, hashes)
            except DestinationError as exc:
                raise TransientError(str(exc), status=response.status_code) from None

        result = self._retrying(what, call)
        result.requests = self._requests - before
        log.info(
            "linkedin: %s: accepted %d, invalid %d (%d request(s))",
            what,
            result.received,
            result.invalid,
            result.requests,
        )
        return result


def _pick(segments: list[dict[str, Any]], name: str) -> str | None:
    matches = sorted(
        (int(s["id"]) for s in segments if s.get("name") == name and str(s.get("id", "")).isdigit()),
    )
    if len(matches) > 1:
        log.warning("linkedin: %d DMP segments share one name; using the oldest id", len(matches))
    return str(matches[0]) if matches else None
