"""Meta (Facebook) Custom Audiences through the official ``facebook-business`` SDK.

Configuration (:class:`FacebookSettings`) comes from the Airflow connection
``facebook_ads`` (password = access token, host = Graph base URL, extra
``ad_account_id`` and ``api_version``), or, without one, from the local
sandbox (``AUDIENCE_SANDBOX_URL``, or the URL a running sandbox wrote; token
``sandbox-token``, ad account 1000000001). Nothing else changes between the two.

Members are sent pre-hashed (see :mod:`audience.identity`) in the multi-key
schema ``EXTERN_ID EMAIL PHONE FN LN CT ZIP COUNTRY DOBY GEN``.

Batching. Meta takes at most 10,000 rows per ``/users`` call. The payload
travels as JSON in a ``multipart/form-data`` field (no percent-encoding): a
full multi-key row is ~650 bytes (9 hashes of 64 characters, quotes and
commas), so 10,000 such rows are ~6.5 MB. We also cap the request body, by
default at 4,000,000 bytes (about 6,000 full rows; sparse or single-key rows
reach the 10,000-row cap first, and keys empty in a whole batch are left out
of its schema):

* large enough to respect the quota (about 5,000 + 40 x audiences calls an
  hour): a first upload of one million people takes 100 to 170 calls, where the
  ~60 KB some integrations use (they put the payload in the query string)
  would need ~12,000 and exhaust the hour's quota;
* small enough that one request uploads in seconds on a modest link, a retry
  resends little, and front servers' body limits are far away.

``max_payload_bytes`` (connection extra or ``AUDIENCE_FB_MAX_PAYLOAD_BYTES``)
changes it.

Removals go in the request body: ``POST {audience}/users`` with
``method=delete`` (Graph's method override). The SDK's own ``remove_users``
sends ``DELETE`` with the payload in the query string, which fails with HTTP
414 beyond a few hundred rows, and the SDK takes that non-JSON 414 page for
a success. So every answer is checked (:func:`check_json_answer`): HTTP
status, a JSON object, and for uploads ``num_received`` equal to the rows sent.

Calls go through the SDK's ``FacebookAdsApi.call`` (session, token, version,
parameter encoding, ``FacebookRequestError`` parsing), not its typed objects
(``AdAccount.get_custom_audiences`` ...), which turn an HTML page from a front
server into an empty or bogus result.

Retries (:mod:`audience.retry`, exponential back-off with jitter, honouring
``Retry-After`` and Meta's ``X-Business-Use-Case-Usage`` wait) cover Graph's
throttling codes 4, 17, 613 and 80003, errors flagged ``is_transient``, codes 1
and 2, HTTP 429 and 5xx, and connection failures. Anything else raises
:class:`~audience.destinations.base.DestinationError` with the platform's code,
subcode and message at once; no value sent ever appears in an error or a log.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from facebook_business.api import FacebookAdsApi, FacebookResponse
from facebook_business.exceptions import FacebookError, FacebookRequestError
from facebook_business.session import FacebookSession

from audience import connections, graph_errors
from audience.destinations.base import DestinationError, T, UploadResult, chunk_by_size
from audience.identity import FACEBOOK_MEMBER_COLUMNS, FACEBOOK_SCHEMA, HASHED_KEYS, is_sha256_hex
from audience.retry import GaveUp, RetryPolicy, TransientError, call_with_retry
from audience.settings import SettingError, env_int

log = logging.getLogger(__name__)

NAME = "facebook"
CONNECTION_ID = "facebook_ads"
GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v26.0"
MAX_ROWS_PER_REQUEST = 10_000
DEFAULT_MAX_PAYLOAD_BYTES = 4_000_000
MIN_AUDIENCE_SIZE = 100

SANDBOX_TOKEN = "sandbox-token"
SANDBOX_AD_ACCOUNT = "1000000001"

# Graph error codes worth waiting for: throttling (4 app, 17 user, 613 custom,
# 80003 custom-audience business use case) and "temporary" failures (1, 2).
# the audience no longer exists on the platform (deleted in Ads Manager, or expired)
AUDIENCE_GONE = 1487366

AUDIENCE_FIELDS = (
    "id",
    "name",
    "description",
    "approximate_count_lower_bound",
    "approximate_count_upper_bound",
    "operation_status",
)

# marts.audience_members columns, in FACEBOOK_SCHEMA order
MEMBER_COLUMNS = FACEBOOK_MEMBER_COLUMNS
IDENTITY_COLUMNS = ("extern_id", "email_sha256", "phone_sha256")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class FacebookSettings:
    """Where and as whom to call the Graph API."""

    access_token: str = field(repr=False)
    ad_account_id: str
    base_url: str = GRAPH_URL
    api_version: str = DEFAULT_API_VERSION
    timeout_s: float = 120.0
    max_rows_per_request: int = MAX_ROWS_PER_REQUEST
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    source: str = "explicit"

    def __post_init__(self) -> None:
        if not self.access_token:
            raise SettingError(f"Facebook settings ({self.source}) have no access token")
        account = str(self.ad_account_id).strip().removeprefix("act_")
        if not account.isdigit():
            raise SettingError(
                f"Facebook ad account id {self.ad_account_id!r} ({self.source}) is not numeric; "
                "set the connection extra ad_account_id to the digits of act_<id>"
            )
        object.__setattr__(self, "ad_account_id", account)
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not re.fullmatch(r"v\d+\.\d+", self.api_version):
            raise SettingError(f"Facebook api_version {self.api_version!r} ({self.source}) is not like v26.0")
        if not 1 <= self.max_rows_per_request <= MAX_ROWS_PER_REQUEST:
            raise SettingError(
                f"max_rows_per_request={self.max_rows_per_request} ({self.source}) must be 1..{MAX_ROWS_PER_REQUEST}"
            )
        if self.max_payload_bytes < 10_000:
            raise SettingError(f"max_payload_bytes={self.max_payload_bytes} ({self.source}) is below 10000")

    @property
    def is_sandbox(self) -> bool:
        return self.source == "sandbox"

    @classmethod
    def resolve(cls) -> FacebookSettings:
        """The Airflow connection ``facebook_ads`` when defined, else the local sandbox."""
        conn = connections.get(CONNECTION_ID)
        if conn is not None:
            return cls.from_connection(conn)
        return cls.sandbox()

    @classmethod
    def sandbox(cls, url: str | None = None) -> FacebookSettings:
        """The sandbox's Graph API (``AUDIENCE_SANDBOX_URL`` or the running sandbox's URL)."""
        return cls(
            access_token=SANDBOX_TOKEN,
            ad_account_id=SANDBOX_AD_ACCOUNT,
            base_url=url or connections.sandbox_url(required=True) or "",
            max_payload_bytes=_env_payload_bytes(),
            source="sandbox",
        )

    @classmethod
    def from_connection(cls, conn: connections.Conn) -> FacebookSettings:
        """password = access token; host = Graph base URL (default graph.facebook.com);
        extra: ad_account_id, api_version, and optionally timeout_s, max_rows_per_request,
        max_payload_bytes."""
        extra = conn.extra or {}
        source = f"connection {conn.conn_id}"
        base_url = extra.get("base_url") or conn.base_url() or GRAPH_URL
        if not extra.get("ad_account_id"):
            raise SettingError(
                f"{source} has no extra ad_account_id; add it (the digits of act_<id>) to the connection's extra"
            )
        try:
            return cls(
                access_token=conn.password or "",
                ad_account_id=str(extra["ad_account_id"]),
                base_url=str(base_url),
                api_version=str(extra.get("api_version") or DEFAULT_API_VERSION),
                timeout_s=float(extra.get("timeout_s") or 120.0),
                max_rows_per_request=int(extra.get("max_rows_per_request") or MAX_ROWS_PER_REQUEST),
                max_payload_bytes=int(extra.get("max_payload_bytes") or _env_payload_bytes()),
                source=source,
            )
        except SettingError:
            raise
        except (TypeError, ValueError) as exc:
            raise SettingError(f"{source}: a numeric extra field is not a number ({exc})") from None


def _env_payload_bytes() -> int:
    return env_int("AUDIENCE_FB_MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES, minimum=10_000)


# --------------------------------------------------------------------------- answers


def check_json_answer(response: FacebookResponse, what: str) -> dict[str, Any]:
    """The answer's JSON object, or :class:`DestinationError` (retryable for 429/5xx).

    The SDK raises only for JSON errors; an HTML page from a front server (414,
    502, 504) comes back as a "successful" response, so the status is checked here.
    """
    status = response.status()
    body = response.json()
    if status == 414:
        raise DestinationError(
            f"the platform refused {what} as too long (HTTP 414, non-JSON answer); "
            "send removals in the body (POST with method=delete) and lower max_payload_bytes",
            destination=NAME,
            http_status=status,
        )
    if status is not None and (status == 429 or status >= 500):
        raise DestinationError(
            f"the platform answered {what} with a server error page",
            destination=NAME,
            http_status=status,
            retryable=True,
        )
    if status is not None and not 200 <= status < 300:
        raise DestinationError(
            f"the platform answered {what} with an unexpected HTTP status and no Graph error",
            destination=NAME,
            http_status=status,
        )
    if not isinstance(body, dict):
        raise DestinationError(
            f"the platform's answer to {what} is not JSON; nothing can be assumed done",
            destination=NAME,
            http_status=status,
        )
    return body


def check_users_answer(response: FacebookResponse, sent: int) -> UploadResult:
    """Check a ``/users`` answer: HTTP 2xx, a JSON object, ``num_received == sent``.

    Raises :class:`DestinationError` otherwise (retryable for 429/5xx). This
    is what catches the SDK taking an HTML error page (414, 502) for success.
    """
    body = check_json_answer(response, f"an upload of {sent} rows")
    received = body.get("num_received")
    if not isinstance(received, int) or received != sent:
        raise DestinationError(
            f"the platform acknowledged {received!r} rows of {sent} sent; the batch is not recorded as synced",
            destination=NAME,
            http_status=response.status(),
        )
    samples = body.get("invalid_entry_samples") or {}
    if not isinstance(samples, dict):
        samples = {}
    return UploadResult(
        sent=sent,
        received=received,
        invalid=int(body.get("num_invalid_entries") or 0),
        invalid_samples={str(k): str(v) for k, v in list(samples.items())[:50]},
    )


def translate_error(exc: FacebookRequestError) -> TransientError | DestinationError:
    """A Graph error as something to wait for (throttling, transient, 429/5xx) or a permanent failure."""
    wait = graph_errors.transient(exc)
    if wait is not None:
        return wait
    message = exc.api_error_message() or "no Graph error message"
    return DestinationError(
        message,
        destination=NAME,
        code=exc.api_error_code(),
        subcode=exc.api_error_subcode(),
        http_status=exc.http_status(),
    )


def is_audience_gone(error: DestinationError) -> bool:
    """True when the platform says the audience was deleted (the ledger no longer describes it)."""
    return error.destination == NAME and AUDIENCE_GONE in (error.code, error.subcode)


# --------------------------------------------------------------------------- destination


class FacebookDestination:
    """Custom Audiences of one ad account."""

    name = NAME
    min_audience_size = MIN_AUDIENCE_SIZE
    schema: tuple[str, ...] = FACEBOOK_SCHEMA
    member_columns: tuple[str, ...] = MEMBER_COLUMNS
    identity_columns: tuple[str, ...] = IDENTITY_COLUMNS

    def __init__(
        self,
        settings: FacebookSettings | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        check_hashes: bool = True,
    ) -> None:
        self.settings = settings or FacebookSettings.resolve()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.check_hashes = check_hashes
        # The SDK reads the base URL from the class attribute; set it as documented,
        # and on this session too so that another destination cannot redirect ours.
        FacebookSession.GRAPH = self.settings.base_url
        self.api = FacebookAdsApi.init(
            access_token=self.settings.access_token,
            api_version=self.settings.api_version,
            timeout=self.settings.timeout_s,
            crash_log=False,
        )
        self.api._session.GRAPH = self.settings.base_url
        log.info(
            "facebook destination: %s, ad account %s, API %s",
            "sandbox" if self.settings.is_sandbox else "Graph API",
            self.settings.ad_account_id,
            self.settings.api_version,
        )

    # -- bookkeeping --------------------------------------------------------
    @property
    def requests(self) -> int:
        """HTTP calls made through this destination (retries and list pages included)."""
        return self.api.get_num_requests_attempted()

    def _retrying(self, what: str, call: Callable[[], Any]) -> Any:
        """Run SDK calls with retries on throttling and transient failures (see audience.retry)."""

        def guarded() -> Any:
            try:
                return call()
            except FacebookRequestError as exc:
                raise translate_error(exc) from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                raise TransientError(f"connection to the Graph API failed ({type(exc).__name__})") from None
            except DestinationError as exc:
                if exc.retryable:
                    raise TransientError(str(exc), status=exc.http_status) from None
                raise
            except FacebookError as exc:
                raise DestinationError(
                    f"the SDK refused the call ({type(exc).__name__})", destination=NAME
                ) from None

        try:
            return call_with_retry(
                guarded,
                what=f"Graph API: {what}",
                classify=lambda exc: None,
                policy=self.retry,
                sleep=self._sleep,
            )
        except GaveUp as exc:
            raise DestinationError(str(exc), destination=NAME, retryable=True) from None

    def _call(
        self,
        method: str,
        path: tuple[str, ...],
        params: dict[str, Any],
        what: str,
        *,
        payload: bytes | None = None,
    ) -> FacebookResponse:
        """One Graph call through the SDK's transport (auth, encoding, Graph error parsing).

        ``payload`` (a users payload, already JSON) travels as a ``multipart/form-data``
        field through the SDK's ``files`` argument: Graph reads multipart fields as
        parameters, and the megabytes of digests are not percent-encoded (which costs
        the client and the server more than everything else in an upload).

        The SDK's success test indexes a non-JSON body that mentions "success" as
        if it were a dict; that TypeError becomes an unreadable-answer error.
        """
        files = {"payload": (None, payload, "application/json")} if payload is not None else None
        try:
            return self.api.call(method, path, params=params, files=files)
        except (TypeError, ValueError):
            raise DestinationError(
                f"the platform's answer to {what} could not be read", destination=NAME
            ) from None

    # -- audiences ----------------------------------------------------------
    #
    # Through api.call and check_json_answer rather than the SDK's typed objects
    # (AdAccount.get_custom_audiences ...): those parse any non-JSON page (a 504
    # from a front server) into an empty or bogus result, and an audience that
    # seems absent would be created twice.

    def _list(self, fields: Sequence[str]) -> list[dict[str, Any]]:
        path = (f"act_{self.settings.ad_account_id}", "customaudiences")
        params: dict[str, Any] = {"fields": ",".join(fields), "limit": 500}
        found: list[dict[str, Any]] = []
        while True:
            body = check_json_answer(self._call("GET", path, params, "list audiences"), "list audiences")
            found.extend(item for item in body.get("data") or [] if isinstance(item, dict))
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return found
            params = {**params, "after": after}

    def list_audiences(self) -> list[dict[str, Any]]:
        """All custom audiences of the account (every page), as plain dicts."""
        return self._retrying("list custom audiences", lambda: self._list(AUDIENCE_FIELDS))

    def find_audience(self, name: str) -> str | None:
        """The id of the account's audience called ``name``, or None."""
        return _pick(self.list_audiences(), name)

    def find_or_create_audience(self, name: str, description: str) -> str:
        """The audience called ``name``, created (customer list, user-provided data) if absent.

        Listing and creating run in one retry loop: if a create succeeded but its
        answer was lost, the retry finds it instead of creating a twin.
        """

        def call() -> str:
            found = _pick(self._list(("id", "name")), name)
            if found:
                return found
            params = {
                "name": name,
                "description": description,
                "subtype": "CUSTOM",
                "customer_file_source": "USER_PROVIDED_ONLY",
            }
            path = (f"act_{self.settings.ad_account_id}", "customaudiences")
            body = check_json_answer(self._call("POST", path, params, "create audience"), "create audience")
            audience_id = str(body.get("id") or "")
            if not audience_id:
                raise DestinationError("creating a custom audience returned no id", destination=NAME)
            log.info("facebook: created custom audience %s", audience_id)
            return audience_id

        return self._retrying("find or create a custom audience", call)

    def find_or_create_lookalike(self, name: str, origin_audience_id: str, spec: dict[str, Any]) -> str:
        """The lookalike called ``name``, created from ``origin_audience_id`` with ``spec`` if absent.

        ``spec`` is Meta's ``lookalike_spec`` (``{"type": "custom_ratio", "ratio": 0.01, "country": "FR"}``).
        Like :meth:`find_or_create_audience`, listing and creating share one retry loop.
        """

        def call() -> str:
            found = _pick(self._list(("id", "name")), name)
            if found:
                return found
            params = {
                "name": name,
                "subtype": "LOOKALIKE",
                "origin_audience_id": origin_audience_id,
                "lookalike_spec": json.dumps(spec, separators=(",", ":")),
            }
            path = (f"act_{self.settings.ad_account_id}", "customaudiences")
            body = check_json_answer(self._call("POST", path, params, "create lookalike"), "create lookalike")
            audience_id = str(body.get("id") or "")
            if not audience_id:
                raise DestinationError("creating a lookalike audience returned no id", destination=NAME)
            log.info("facebook: created lookalike audience %s from %s", audience_id, origin_audience_id)
            return audience_id

        return self._retrying("find or create a lookalike audience", call)

    def read(self, audience_id: str) -> dict[str, Any]:
        """The audience's fields (id, name, description, approximate counts, status)."""

        def call() -> dict[str, Any]:
            params = {"fields": ",".join(AUDIENCE_FIELDS)}
            return check_json_answer(
                self._call("GET", (audience_id,), params, "read audience"), "read audience"
            )

        return self._retrying(f"read custom audience {audience_id}", call)

    def members_count(self, audience_id: str) -> int | None:
        """Meta's lower-bound estimate of matched people (None when not reported)."""
        value = self.read(audience_id).get("approximate_count_lower_bound")
        return int(value) if value is not None else None

    # -- members ------------------------------------------------------------
    def batches(self, items: Iterable[T], values: Callable[[T], Sequence[str]]) -> Iterator[list[T]]:
        """Group items into request-sized lists (row cap and encoded-body cap)."""
        return chunk_by_size(
            items,
            size=lambda item: json_row_size(values(item)),
            max_items=self.settings.max_rows_per_request,
            max_bytes=self.settings.max_payload_bytes,
            overhead=_REQUEST_OVERHEAD,
        )

    def add(self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]) -> UploadResult:
        """Add members (hashed rows in ``schema`` order); several requests if the rows need it."""
        return self._upload(audience_id, schema, rows, remove=False)

    # -- rows already JSON (the sync engine's path) ---------------------------
    #
    # The engine reads each row as its JSON text straight from the warehouse
    # (``array_to_json``), with digests checked there in one query: a batch then
    # costs one string join, where lists cost parsing, checking and encoding
    # every value in Python.
    hashed_positions: tuple[int, ...] = tuple(
        i for i, key in enumerate(FACEBOOK_SCHEMA) if key in HASHED_KEYS
    )
    """Positions (0-based) in ``schema`` of the values that must be SHA-256 digests."""

    def encoded_batches(self, items: Iterable[T], text: Callable[[T], str]) -> Iterator[list[T]]:
        """Like :meth:`batches`, for rows given as JSON texts."""
        return chunk_by_size(
            items,
            size=lambda item: len(text(item)) + 1,
            max_items=self.settings.max_rows_per_request,
            max_bytes=self.settings.max_payload_bytes,
            overhead=_REQUEST_OVERHEAD,
        )

    def add_encoded(self, audience_id: str, schema: Sequence[str], rows: Sequence[str]) -> UploadResult:
        """Add members given as JSON arrays (one request: group them with :meth:`encoded_batches`)."""
        return self._encoded_request(audience_id, schema, rows, remove=False)

    def remove_encoded(self, audience_id: str, schema: Sequence[str], rows: Sequence[str]) -> UploadResult:
        """Remove members given as JSON arrays (one request)."""
        return self._encoded_request(audience_id, schema, rows, remove=True)

    def _encoded_request(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[str], *, remove: bool
    ) -> UploadResult:
        if len(rows) > self.settings.max_rows_per_request:
            raise ValueError(
                f"{len(rows)} rows exceed max_rows_per_request={self.settings.max_rows_per_request}; "
                "group the rows with encoded_batches() first"
            )
        head = json.dumps({"schema": list(schema)}, separators=(",", ":"))[:-1]
        payload = (head + ',"data":[' + ",".join(rows) + "]}").encode("utf-8")
        return self._send_users(audience_id, payload, len(rows), remove=remove)

    def remove(self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]]) -> UploadResult:
        """Remove members: POST with ``method=delete``, parameters in the body."""
        return self._upload(audience_id, schema, rows, remove=True)

    # -- full replace (usersreplace sessions) -------------------------------
    @staticmethod
    def new_replace_session() -> int:
        """A fresh session id for ``usersreplace`` (a positive int64 of our choosing)."""
        return secrets.randbits(62) or 1

    def replace_batch(
        self,
        audience_id: str,
        schema: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        session_id: int,
        batch_seq: int,
        last: bool,
        estimated_total: int,
    ) -> UploadResult:
        """Send one batch of a ``usersreplace`` session (``POST {audience}/usersreplace``).

        Meta makes the audience exactly the members sent in the session when the
        batch with ``last_batch_flag`` arrives; until then the audience is
        unchanged. The rows must fit one request (use :meth:`batches`). A
        session whose first batch Meta never saw answers error 2650 / 1870147:
        start again with a new session id and ``batch_seq`` 1.
        """
        data = [list(row) for row in rows]
        if not data:
            raise ValueError("a usersreplace batch needs at least one row")
        if len(data) > self.settings.max_rows_per_request:
            raise ValueError(
                f"{len(data)} rows exceed max_rows_per_request={self.settings.max_rows_per_request}; "
                "group the rows with batches() first"
            )
        self._check_rows(list(schema), data)
        session = {
            "session_id": int(session_id),
            "batch_seq": int(batch_seq),
            "last_batch_flag": bool(last),
            "estimated_num_total": int(estimated_total),
        }
        params: dict[str, Any] = {"session": session}
        payload = encode_payload(list(schema), data)
        before = self.requests

        def call() -> UploadResult:
            response = self._call(
                "POST",
                (audience_id, "usersreplace"),
                params,
                f"replace batch {batch_seq} ({len(data)} rows)",
                payload=payload,
            )
            return check_users_answer(response, len(data))

        result = self._retrying(f"replace batch {batch_seq} of audience {audience_id}", call)
        result.requests = self.requests - before
        log.info(
            "facebook: replace session batch %d%s on audience %s: %d rows, received %d, invalid %d",
            batch_seq,
            " (last)" if last else "",
            audience_id,
            len(data),
            result.received,
            result.invalid,
        )
        return result

    def _upload(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]], *, remove: bool
    ) -> UploadResult:
        schema = list(schema)
        total = UploadResult()
        for batch in self.batches(rows, values=lambda row: row):
            total.merge(self._users_request(audience_id, schema, batch, remove=remove))
        return total

    def _users_request(
        self, audience_id: str, schema: list[str], rows: list[Sequence[str]], *, remove: bool
    ) -> UploadResult:
        data = [list(row) for row in rows]
        self._check_rows(schema, data)
        return self._send_users(audience_id, encode_payload(schema, data), len(data), remove=remove)

    def _send_users(self, audience_id: str, payload: bytes, count: int, *, remove: bool) -> UploadResult:
        params: dict[str, Any] = {"method": "delete"} if remove else {}
        verb = "remove" if remove else "add"
        before = self.requests

        def call() -> UploadResult:
            response = self._call(
                "POST", (audience_id, "users"), params, f"{verb} {count} rows", payload=payload
            )
            return check_users_answer(response, count)

        result = self._retrying(f"{verb} {count} members to audience {audience_id}", call)
        result.requests = self.requests - before
        log.info(
            "facebook: %s %d members on audience %s: received %d, invalid %d (%d request(s))",
            verb,
            count,
            audience_id,
            result.received,
            result.invalid,
            result.requests,
        )
        return result

    def _check_rows(self, schema: list[str], rows: list[list[str]]) -> None:
        """Refuse to send anything that is not a digest where a digest is due (no raw PII leaves)."""
        width = len(schema)
        hashed = [i for i, key in enumerate(schema) if key in HASHED_KEYS]
        for number, row in enumerate(rows):
            if len(row) != width:
                raise DestinationError(
                    f"row {number} has {len(row)} values for a schema of {width} keys", destination=NAME
                )
        if not self.check_hashes:
            return
        for i in hashed:
            column = [row[i] for row in rows]
            if set(map(len, column)) <= {0, 64} and _HEX_ONLY.fullmatch("".join(column)):
                continue  # the whole column at once: each value empty or 64 lowercase hex digits
            number = next(n for n, value in enumerate(column) if value and not is_sha256_hex(value))
            raise DestinationError(
                f"row {number}: {schema[i]} is not a SHA-256 hex digest; refusing to send "
                "unhashed data (hash with audience.identity first)",
                destination=NAME,
            )


# The multipart framing (boundary lines, the part's headers), the other parameters and the
# payload's {"schema":[...11 keys...],"data":[]}: generous, so the estimate stays an upper bound.
_REQUEST_OVERHEAD = 1_024


_HEX_ONLY = re.compile(r"[0-9a-f]*")


def json_row_size(values: Sequence[str]) -> int:
    """Bytes one row adds to a payload: its JSON (as :func:`encode_payload` writes it) and a comma.

    Digests and ids need no escaping: their size is counted, not encoded (quotes,
    commas and brackets: 3 per value, +2); anything else is encoded to be sure.
    """
    joined = "".join(values)
    if _NO_ESCAPE.fullmatch(joined):
        return len(joined) + max(3 * len(values) + 2, 3)
    return len(json.dumps(list(values), separators=(",", ":"))) + 1


# printable ASCII but the quote and the backslash: JSON writes it as is
_NO_ESCAPE = re.compile(r"[ !#-\[\]-~]*")


def encode_payload(schema: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    """A users payload ``{"schema": [...], "data": [[...], ...]}`` as JSON bytes.

    Keys whose value is empty in every row of the batch are left out of that
    request's schema (Meta takes any subset of the multi-key schema): the
    sparse columns of a customer list cost no bytes and no server work.
    """
    keep = [i for i, column in enumerate(zip(*rows, strict=True)) if any(column)]
    if keep and len(keep) < len(schema):
        schema = [schema[i] for i in keep]
        rows = [[row[i] for i in keep] for row in rows]
    body = {"schema": list(schema), "data": [list(row) for row in rows]}
    return json.dumps(body, separators=(",", ":")).encode("ascii")


def _pick(audiences: list[dict[str, Any]], name: str) -> str | None:
    matches = [str(a["id"]) for a in audiences if a.get("name") == name and a.get("id")]
    if not matches:
        return None
    if len(matches) > 1:
        log.warning("facebook: %d custom audiences share one name; using the oldest id", len(matches))
    return min(matches, key=lambda i: (len(i), i))
