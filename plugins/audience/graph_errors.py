"""Graph API (Meta) errors: which ones to wait out, and for how long.

Shared by the Facebook destination (custom audiences) and the Facebook pages
source: throttling codes (4 app, 17 user, 32 page, 613 custom, 80001/80003/80004
business-use-case), Graph's own ``is_transient`` flag, HTTP 429 and 5xx are
retried; everything else is a permanent error for the caller to report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from facebook_business.exceptions import FacebookRequestError

from audience.retry import TransientError

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001, 80003, 80004})
TRANSIENT_CODES = frozenset({1, 2})


def retry_hint(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait, from ``Retry-After`` or Meta's business-use-case usage header."""
    if not headers:
        return None
    hint: float | None = None
    retry_after = headers.get("Retry-After") or headers.get("retry-after")
    if retry_after:
        try:
            hint = float(retry_after)
        except ValueError:
            hint = None
    usage = headers.get("X-Business-Use-Case-Usage") or headers.get("x-business-use-case-usage")
    if usage:
        try:
            data = json.loads(usage)
            minutes = [
                float(entry.get("estimated_time_to_regain_access") or 0)
                for entries in data.values()
                for entry in (entries if isinstance(entries, list) else [entries])
                if isinstance(entry, dict)
            ]
        except (ValueError, AttributeError, TypeError):
            minutes = []
        if minutes and max(minutes) > 0:
            hint = max(hint or 0.0, max(minutes) * 60.0)
    return hint


def transient(exc: FacebookRequestError) -> TransientError | None:
    """A TransientError to wait out, or None when the error is permanent."""
    code, subcode, status = exc.api_error_code(), exc.api_error_subcode(), exc.http_status()
    if (
        code in RATE_LIMIT_CODES
        or code in TRANSIENT_CODES
        or bool(exc.api_transient_error())
        or status == 429
        or (status is not None and status >= 500)
    ):
        message = exc.api_error_message() or "no Graph error message"
        return TransientError(
            f"Graph error code {code}, subcode {subcode}, HTTP {status}: {message}",
            retry_after=retry_hint(exc.http_headers()),
            status=status,
        )
    return None
