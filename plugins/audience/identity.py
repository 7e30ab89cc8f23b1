"""The platforms' identifier schemas and SHA-256 helpers, shared by the destinations and the checks.

Values are normalised per the ad platforms' matching rules and hashed in one place
only: the dbt macros of ``dbt_project/macros/normalisation/``, which build
``marts.audience_members`` in the warehouse and which ``audience identity
normalize`` (:mod:`audience.normalize`) runs on JSON lines. Meta's rules
(docs/external-apis.md, "Normalisation before SHA-256"):

=========  ===========================================================================
EMAIL      trim, lowercase
PHONE      digits only, with the country calling code, no leading zeros
           (French ``06 12 34 56 78`` -> ``33612345678``)
FN, LN     lowercase, no punctuation, spaces or digits; letters outside a-z kept as
           UTF-8 (``José`` -> ``josé``)
CT         same as names (``Saint-Étienne`` -> ``saintétienne``)
ST         US: the two-letter code; elsewhere like names
ZIP        lowercase, no spaces or dashes (US: first 5 digits)
COUNTRY    ISO 3166-1 alpha-2, lowercase
DOBY       ``YYYY``
GEN        ``m`` or ``f``
EXTERN_ID  **not hashed**
=========  ===========================================================================

We do not use the ``facebook-business`` SDK's own hashing: it lowercases and
hashes EXTERN_ID, keeps leading zeros and adds no calling code to phones,
drops every non a-z letter from names (``José`` -> ``jos``), truncates
COUNTRY to its first two letters and hashes empty strings.
"""

from __future__ import annotations

import hashlib
import re

FACEBOOK_SCHEMA: tuple[str, ...] = (
    "EXTERN_ID",
    "EMAIL",
    "PHONE",
    "FN",
    "LN",
    "CT",
    "ZIP",
    "COUNTRY",
    "DOBY",
    "GEN",
)
"""The multi-key schema the sync sends to Meta, in this order."""

HASHED_KEYS: frozenset[str] = frozenset(FACEBOOK_SCHEMA) - {"EXTERN_ID"}

# the column of marts.audience_members that holds each key (the warehouse's side of the schema)
MEMBER_COLUMN_BY_KEY: dict[str, str] = {
    key: ("extern_id" if key == "EXTERN_ID" else f"{key.lower()}_sha256") for key in FACEBOOK_SCHEMA
}
FACEBOOK_MEMBER_COLUMNS: tuple[str, ...] = tuple(MEMBER_COLUMN_BY_KEY[key] for key in FACEBOOK_SCHEMA)
HASHED_MEMBER_COLUMNS: tuple[str, ...] = tuple(c for c in FACEBOOK_MEMBER_COLUMNS if c.endswith("_sha256"))

_HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes, lowercase hex; ``""`` stays ``""`` (never hash an empty string)."""
    if not value:
        return ""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """True for a 64-character lowercase hexadecimal digest."""
    return bool(_HEX64.fullmatch(value))
