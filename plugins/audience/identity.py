"""Normalise personal data per the ad platforms' matching rules, then hash it (SHA-256).

Meta (Facebook) and LinkedIn match uploaded people on SHA-256 hashes of
*normalised* values, so the normalisation must be exactly theirs (see
docs/external-apis.md, "Normalisation before SHA-256"):

=========  ===========================================================================
EMAIL      trim, lowercase
PHONE      digits only, with the country calling code, no leading zeros
           (French ``06 12 34 56 78`` -> ``33612345678``)
FN, LN     lowercase, no punctuation, spaces or digits; letters outside a-z kept as
           UTF-8 (``José`` -> ``josé``)
CT         same as names (``Saint-Étienne`` -> ``saintétienne``)
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

Every ``normalize_*`` function returns a :class:`Normalized`: a ``str`` (the
normalised value, ``""`` when there is none) that also carries ``.reason``,
why a value that was given could not be used (``None`` when it was used or
when nothing was given). Reasons never contain the input value, so they are
safe to log and count.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


class Normalized(str):
    """A normalised value (a ``str``) with the reason it is empty, if it was rejected."""

    reason: str | None

    def __new__(cls, value: str = "", reason: str | None = None) -> Normalized:
        obj = super().__new__(cls, value)
        obj.reason = None if value else reason
        return obj

    def __repr__(self) -> str:
        return f"Normalized({str(self)!r}, reason={self.reason!r})"


def _text(value: Any) -> str:
    """A value as stripped text, NFC-composed (``e`` + combining accent -> ``é``)."""
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value)).strip()


def _squash(value: str) -> str:
    """Lowercase ASCII letters only, accents removed: the key of the alias tables."""
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return "".join(ch for ch in decomposed if "a" <= ch <= "z")


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes, lowercase hex; ``""`` stays ``""`` (never hash an empty string)."""
    if not value:
        return ""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """True for a 64-character lowercase hexadecimal digest."""
    return bool(_HEX64.fullmatch(value))


# --------------------------------------------------------------------------- email


def normalize_email(value: Any) -> Normalized:
    """Trim and lowercase; ``""`` with a reason when it is not shaped like an address."""
    text = _text(value).lower()
    if not text:
        return Normalized("")
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        return Normalized("", "not an email address")
    if any(ch.isspace() for ch in text):
        return Normalized("", "email contains spaces")
    return Normalized(text)


# --------------------------------------------------------------------------- country


# ISO2 -> calling code, trunk prefixes dialled before national numbers, and the
# accepted length range of the national significant number (digits after the
# calling code and the trunk prefix). EU-27 plus US, GB, CH (and a few neighbours).
@dataclass(frozen=True)
class _Numbering:
    calling_code: str
    trunk: tuple[str, ...]
    nsn_min: int
    nsn_max: int


NUMBERING: dict[str, _Numbering] = {
    "at": _Numbering("43", ("0",), 4, 13),
    "be": _Numbering("32", ("0",), 8, 9),
    "bg": _Numbering("359", ("0",), 7, 9),
    "ch": _Numbering("41", ("0",), 9, 9),
    "cy": _Numbering("357", (), 8, 8),
    "cz": _Numbering("420", (), 9, 9),
    "de": _Numbering("49", ("0",), 6, 13),
    "dk": _Numbering("45", (), 8, 8),
    "ee": _Numbering("372", (), 7, 8),
    "es": _Numbering("34", (), 9, 9),
    "fi": _Numbering("358", ("0",), 5, 12),
    "fr": _Numbering("33", ("0",), 9, 9),
    "gb": _Numbering("44", ("0",), 9, 10),
    "gr": _Numbering("30", (), 10, 10),
    "hr": _Numbering("385", ("0",), 8, 9),
    "hu": _Numbering("36", ("06",), 8, 9),
    "ie": _Numbering("353", ("0",), 7, 9),
    # Italy: the leading 0 of landlines is part of the number (+39 06 ...): no trunk prefix
    "it": _Numbering("39", (), 6, 11),
    "lt": _Numbering("370", ("8", "0"), 8, 8),
    "lu": _Numbering("352", (), 4, 11),
    "lv": _Numbering("371", (), 8, 8),
    "mt": _Numbering("356", (), 8, 8),
    "nl": _Numbering("31", ("0",), 9, 9),
    "pl": _Numbering("48", (), 9, 9),
    "pt": _Numbering("351", (), 9, 9),
    "ro": _Numbering("40", ("0",), 9, 9),
    "se": _Numbering("46", ("0",), 7, 9),
    "si": _Numbering("386", ("0",), 8, 8),
    "sk": _Numbering("421", ("0",), 9, 9),
    "us": _Numbering("1", ("1",), 10, 10),
    "mc": _Numbering("377", (), 8, 9),
    "no": _Numbering("47", (), 8, 8),
}

CALLING_CODES: dict[str, str] = {iso2: n.calling_code for iso2, n in NUMBERING.items()}
_BY_CALLING_CODE: dict[str, str] = {}
for _iso2, _numbering in NUMBERING.items():
    # +1 is shared by the NANP countries: keep the US; other codes are unique here.
    _BY_CALLING_CODE.setdefault(_numbering.calling_code, _iso2)

# Country names as people type them (EN, FR, DE, ES, IT, NL, PT and native),
# squashed to lowercase a-z: "Pays-Bas" -> "paysbas", "Österreich" -> "osterreich".
_COUNTRY_ALIASES: dict[str, str] = {}
for _iso2, _names in {
    "fr": "france frankreich francia frankrijk franca republiquefrancaise fra",
    "be": "belgique belgium belgie belgien belgica belgio bel",
    "de": "germany allemagne deutschland alemania germania duitsland alemanha deu ger bundesrepublikdeutschland",
    "es": "spain espagne espana spanien spagna spanje espanha esp",
    "it": "italy italie italia italien ita",
    "nl": "netherlands thenetherlands paysbas nederland niederlande holland hollande paisesbajos paesibassi nld",
    "pt": "portugal portogallo prt",
    "lu": "luxembourg luxemburg lussemburgo luxemburgo lux",
    "ch": "switzerland suisse schweiz svizzera suiza zwitserland che",
    "gb": "unitedkingdom royaumeuni greatbritain england angleterre uk grossbritannien reinounido regnounito gbr",
    "us": "unitedstates usa etatsunis unitedstatesofamerica vereinigtestaaten estadosunidos statiuniti",
    "at": "austria autriche osterreich oesterreich aut",
    "ie": "ireland irlande irland irlanda",
    "pl": "poland pologne polen polonia polska",
    "dk": "denmark danemark danmark dinamarca danimarca",
    "se": "sweden suede schweden sverige suecia svezia",
    "fi": "finland finlande finnland suomi finlandia",
    "gr": "greece grece griechenland grecia ellada el",
    "cz": "czechia czechrepublic republiquetcheque tchequie tschechien",
    "hu": "hungary hongrie ungarn magyarorszag",
    "ro": "romania roumanie rumanien",
    "bg": "bulgaria bulgarie bulgarien",
    "hr": "croatia croatie kroatien hrvatska",
    "sk": "slovakia slovaquie slowakei",
    "si": "slovenia slovenie slowenien",
    "ee": "estonia estonie estland eesti",
    "lv": "latvia lettonie lettland latvija",
    "lt": "lithuania lituanie litauen lietuva",
    "mt": "malta malte",
    "cy": "cyprus chypre zypern",
    "mc": "monaco",
    "no": "norway norvege norwegen norge",
    "ma": "morocco maroc marokko marruecos",
    "dz": "algeria algerie",
    "tn": "tunisia tunisie",
    "ca": "canada kanada",
}.items():
    for _name in _names.split():
        _COUNTRY_ALIASES[_name] = _iso2


def normalize_country(value: Any) -> Normalized:
    """ISO 3166-1 alpha-2, lowercase: ``"France"``, ``"FR"``, ``"fr"``, ``"FRA"`` -> ``"fr"``."""
    text = _text(value)
    if not text:
        return Normalized("")
    key = _squash(text)
    if not key:
        return Normalized("", "country has no letters")
    if key in _COUNTRY_ALIASES:
        return Normalized(_COUNTRY_ALIASES[key])
    if len(key) == 2 and _is_iso2(key):
        return Normalized(key)
    found = _pycountry_lookup(text)
    if found:
        return Normalized(found)
    return Normalized("", "unknown country")


def _is_iso2(code: str) -> bool:
    try:
        import pycountry  # noqa: PLC0415 - shipped with facebook-business
    except ImportError:  # pragma: no cover - fall back to the calling-code table
        return code in NUMBERING
    return pycountry.countries.get(alpha_2=code.upper()) is not None


def _pycountry_lookup(text: str) -> str:
    try:
        import pycountry  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        return ""
    try:
        return pycountry.countries.lookup(text).alpha_2.lower()
    except LookupError:
        return ""


# --------------------------------------------------------------------------- phone

_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|poste|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)
_TRUNK_MARK = re.compile(r"\(\s*0\s*\)")
_PHONE_CHARS = re.compile(r"[\d\s().\-/+]*")


def normalize_phone(phone: Any, country_iso2: Any = None) -> Normalized:
    """Digits only, with the calling code, no leading zeros (``+33 6 12 34 56 78`` -> ``33612345678``).

    International forms (``+33…``, ``0033…``) keep their own calling code; a
    national number gets the calling code of ``country_iso2`` (any form
    :func:`normalize_country` understands). The ``(0)`` trunk marker and a
    trunk prefix written after the calling code (``+33 06…``) are dropped.
    Returns ``""`` with a reason when the number cannot be made sure of.
    """
    text = _text(phone)
    if not text:
        return Normalized("")
    text = _EXTENSION.sub("", text)
    text = _TRUNK_MARK.sub(" ", text)
    if not _PHONE_CHARS.fullmatch(text):
        return Normalized("", "phone contains letters or symbols")
    digits = re.sub(r"\D", "", text)
    if not digits:
        return Normalized("", "phone has no digits")
    if text.startswith("+"):
        return _international(digits)
    if digits.startswith("00"):
        return _international(digits[2:])
    country = normalize_country(country_iso2) if country_iso2 else Normalized("")
    numbering = NUMBERING.get(country)
    if numbering is None:
        # A national number we cannot place: a calling code may already be there
        # ("33612345678"), but guessing would send wrong hashes. Refuse.
        return Normalized("", "national number without a known country")
    code = numbering.calling_code
    national = digits
    if code == "1" and len(national) == 11 and national.startswith("1"):
        national = national[1:]
    elif numbering.trunk and national.startswith(numbering.trunk):
        national = _strip_trunk(national, numbering.trunk)
    elif (
        code != "39"  # Italian mobiles start with 3: "39…" may be a national number
        and national.startswith(code)
        and numbering.nsn_min <= len(national) - len(code) <= numbering.nsn_max
    ):
        # the calling code typed without '+' or '00' ("33612345678")
        national = national[len(code) :]
    return _checked(code, national, numbering)


def _strip_trunk(national: str, trunk: tuple[str, ...]) -> str:
    for prefix in trunk:
        if national.startswith(prefix):
            return national[len(prefix) :]
    return national


def _international(digits: str) -> Normalized:
    digits = digits.lstrip("0")
    if not digits:
        return Normalized("", "phone has no digits")
    for size in (3, 2, 1):
        code = digits[:size]
        iso2 = _BY_CALLING_CODE.get(code)
        if iso2 is None:
            continue
        numbering = NUMBERING[iso2]
        national = digits[size:]
        # "+33 (0)6…" written without parentheses: "+33 06…"
        if numbering.trunk and code != "1":
            national = _strip_trunk(national, numbering.trunk)
        return _checked(code, national, numbering)
    if len(digits) < 8:
        return Normalized("", "too few digits")
    if len(digits) > 15:
        return Normalized("", "too many digits")
    return Normalized(digits)


def _checked(calling_code: str, national: str, numbering: _Numbering) -> Normalized:
    if len(national) < numbering.nsn_min:
        return Normalized("", "too few digits")
    if len(national) > numbering.nsn_max or len(calling_code) + len(national) > 15:
        return Normalized("", "too many digits")
    if numbering.calling_code != "39" and national.startswith("0"):
        return Normalized("", "unexpected leading zero")
    return Normalized(calling_code + national)


# --------------------------------------------------------------------------- names, places


def _letters(text: str) -> str:
    """Lowercase letters only (any script), NFC: punctuation, spaces, digits and symbols dropped."""
    lowered = unicodedata.normalize("NFC", text.lower())
    return "".join(ch for ch in lowered if ch.isalpha())


def normalize_name(value: Any) -> Normalized:
    """First or last name: ``"  José-María "`` -> ``"josémaría"``, ``"O'Brien"`` -> ``"obrien"``."""
    text = _text(value)
    if not text:
        return Normalized("")
    letters = _letters(text)
    return Normalized(letters, "name has no letters")


_CEDEX = re.compile(r"\bcedex\b.*$", re.IGNORECASE)
_ARRONDISSEMENT = re.compile(r"\s+\d{1,2}\s*(?:e|er|ème|eme|è)?(?:\s+arrondissement)?\s*$", re.IGNORECASE)


def normalize_city(value: Any) -> Normalized:
    """City: like names, after dropping a ``CEDEX`` suffix and an arrondissement number.

    ``"Paris 11e"`` -> ``"paris"``, ``"Saint-Étienne"`` -> ``"saintétienne"``,
    ``"LYON CEDEX 03"`` -> ``"lyon"``.
    """
    text = _text(value)
    if not text:
        return Normalized("")
    text = _CEDEX.sub("", text).strip()
    text = _ARRONDISSEMENT.sub("", text)
    return Normalized(_letters(text), "city has no letters")


_FIVE_DIGIT_ZIPS = frozenset({"fr", "de", "es", "it", "us", "fi", "ee", "hr", "mc"})
_COUNTRY_PREFIX = re.compile(r"^[a-z]{1,2}-(?=\d)")


def normalize_zip(value: Any, country_iso2: Any = None) -> Normalized:
    """Postal code: lowercase, no spaces or dashes; US ZIP+4 cut to 5 digits.

    French (and other 5-digit) codes that lost their leading zero in a
    spreadsheet (``"1000"``) get it back; ``"F-75011"`` style prefixes go.
    """
    text = _text(value).lower()
    if not text:
        return Normalized("")
    country = normalize_country(country_iso2) if country_iso2 else ""
    text = _COUNTRY_PREFIX.sub("", text)
    if country == "us":
        digits = re.sub(r"\D", "", text)
        if len(digits) < 5:
            return Normalized("", "zip too short")
        return Normalized(digits[:5])
    compact = re.sub(r"[\s\-.]", "", text)
    if not re.fullmatch(r"[0-9a-z]+", compact):
        return Normalized("", "zip has unexpected characters")
    if country in _FIVE_DIGIT_ZIPS and compact.isdigit() and len(compact) == 4:
        compact = "0" + compact
    if len(compact) < 3:
        return Normalized("", "zip too short")
    return Normalized(compact)


# --------------------------------------------------------------------------- gender, birth date

_GENDERS = {
    "m": "m",
    "male": "m",
    "man": "m",
    "men": "m",
    "h": "m",
    "homme": "m",
    "masculin": "m",
    "mr": "m",
    "monsieur": "m",
    "herr": "m",
    "mann": "m",
    "mannlich": "m",
    "hombre": "m",
    "masculino": "m",
    "uomo": "m",
    "maschio": "m",
    "homem": "m",
    "f": "f",
    "female": "f",
    "woman": "f",
    "women": "f",
    "w": "f",
    "femme": "f",
    "feminin": "f",
    "mme": "f",
    "mlle": "f",
    "madame": "f",
    "mademoiselle": "f",
    "mrs": "f",
    "ms": "f",
    "miss": "f",
    "frau": "f",
    "weiblich": "f",
    "mujer": "f",
    "femenino": "f",
    "donna": "f",
    "femmina": "f",
    "vrouw": "f",
    "mulher": "f",
    "feminino": "f",
}


def normalize_gender(value: Any) -> Normalized:
    """``m`` or ``f`` from ``M``, ``male``, ``Homme``, ``Femme``, ``w`` …; ``""`` otherwise."""
    text = _text(value)
    if not text:
        return Normalized("")
    return Normalized(_GENDERS.get(_squash(text), ""), "gender not m or f")


@dataclass(frozen=True)
class BirthDate:
    """A parsed birth date: ``year`` alone for ``"1987"``, all three for full dates."""

    year: int | None
    month: int | None = None
    day: int | None = None
    reason: str | None = None


_EXCEL_EPOCH = dt.date(1899, 12, 30)


def parse_birth_date(value: Any, *, today: dt.date | None = None) -> BirthDate:
    """Parse the messy birth dates CRMs hold; day first when ambiguous (European use).

    Accepts ``1987-04-12``, ``12/04/1987``, ``12.04.87``, ``1987``, Excel
    serials (``31880``), ``19870412`` and ``date`` objects. Impossible dates
    (``31/02/1990``) and years outside 1900..today are rejected with a reason.
    """
    today = today or dt.date.today()
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return _checked_date(value.year, value.month, value.day, today)
    text = _text(value)
    if not text:
        return BirthDate(None)
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?", text):
        return _checked_date(int(m[1]), int(m[2]), int(m[3]), today)
    if m := re.fullmatch(r"(\d{1,2})[-/.\s](\d{1,2})[-/.\s](\d{2}|\d{4})", text):
        first, second, year = int(m[1]), int(m[2]), _full_year(m[3], today)
        if second > 12 >= first:  # US order: 04/25/1987
            first, second = second, first
        return _checked_date(year, second, first, today)
    if re.fullmatch(r"\d{4}", text):
        return _checked_date(int(text), None, None, today)
    if m := re.fullmatch(r"(\d{5})(?:\.0+)?", text):
        serial = int(m[1])
        try:
            day = _EXCEL_EPOCH + dt.timedelta(days=serial)
        except OverflowError:  # pragma: no cover - 5 digits cannot overflow
            return BirthDate(None, reason="unreadable date")
        return _checked_date(day.year, day.month, day.day, today)
    if re.fullmatch(r"\d{8}", text):
        if text[:2] in {"19", "20"}:
            return _checked_date(int(text[:4]), int(text[4:6]), int(text[6:]), today)
        return _checked_date(int(text[4:]), int(text[2:4]), int(text[:2]), today)
    return BirthDate(None, reason="unreadable date")


def _full_year(text: str, today: dt.date) -> int:
    if len(text) == 4:
        return int(text)
    year = 2000 + int(text)
    return year if year <= today.year else year - 100


def _checked_date(year: int, month: int | None, day: int | None, today: dt.date) -> BirthDate:
    if not 1900 <= year <= today.year:
        return BirthDate(None, reason="implausible birth year")
    if month is not None and day is not None:
        try:
            born = dt.date(year, month, day)
        except ValueError:
            return BirthDate(None, reason="impossible date")
        if born > today:
            return BirthDate(None, reason="birth date in the future")
    return BirthDate(year, month, day)


def doby(value: Any, *, today: dt.date | None = None) -> Normalized:
    """Year of birth ``YYYY`` from any form :func:`parse_birth_date` reads."""
    parsed = parse_birth_date(value, today=today)
    if parsed.year is None:
        return Normalized("", parsed.reason)
    return Normalized(f"{parsed.year:04d}")


# --------------------------------------------------------------------------- rows

# input field names accepted for each schema key (first present wins)
_FIELDS: dict[str, tuple[str, ...]] = {
    "EXTERN_ID": ("extern_id", "person_id"),
    "EMAIL": ("email",),
    "PHONE": ("phone", "phone_e164_digits"),
    "FN": ("first_name", "firstname", "fn"),
    "LN": ("last_name", "lastname", "ln"),
    "CT": ("city", "ct"),
    "ZIP": ("zip", "postal_code", "zip_code"),
    "COUNTRY": ("country_code", "country"),
    "DOBY": ("birth_date", "date_of_birth", "doby"),
    "GEN": ("gender", "gen"),
}


def _field(fields: Mapping[str, Any], key: str) -> Any:
    for name in _FIELDS[key]:
        value = fields.get(name)
        if value is not None and value != "":
            return value
    return None


def facebook_row(fields: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """One person's multi-key row for Meta, hashed, in :data:`FACEBOOK_SCHEMA` order.

    ``fields`` holds raw values under the warehouse names (``email``,
    ``phone``, ``first_name``, ``last_name``, ``city``, ``zip``,
    ``country_code``, ``birth_date``, ``gender``, ``extern_id`` or
    ``person_id``; HubSpot's ``firstname``/``lastname``/``date_of_birth``
    and ``country`` also work). Returns ``(row, reasons)``: ``row`` maps each
    schema key to a 64-hex SHA-256 or ``""`` (EXTERN_ID in clear), ``reasons``
    maps a key to why a value that was present was left out.
    """
    reasons: dict[str, str] = {}
    country = normalize_country(_field(fields, "COUNTRY"))
    normalized: dict[str, Normalized] = {
        "EMAIL": normalize_email(_field(fields, "EMAIL")),
        "PHONE": normalize_phone(_field(fields, "PHONE"), country),
        "FN": normalize_name(_field(fields, "FN")),
        "LN": normalize_name(_field(fields, "LN")),
        "CT": normalize_city(_field(fields, "CT")),
        "ZIP": normalize_zip(_field(fields, "ZIP"), country),
        "COUNTRY": country,
        "DOBY": doby(_field(fields, "DOBY")),
        "GEN": normalize_gender(_field(fields, "GEN")),
    }
    extern = _field(fields, "EXTERN_ID")
    row: dict[str, str] = {"EXTERN_ID": _text(extern)}
    for key in FACEBOOK_SCHEMA[1:]:
        value = normalized[key]
        row[key] = sha256_hex(value)
        if value.reason:
            reasons[key] = value.reason
    return row, reasons


def facebook_values(fields: Mapping[str, Any]) -> list[str]:
    """:func:`facebook_row` as a list in schema order (what the payload's ``data`` holds)."""
    row, _ = facebook_row(fields)
    return [row[key] for key in FACEBOOK_SCHEMA]


def linkedin_email_sha256(email: Any) -> str:
    """LinkedIn ``SHA256_EMAIL`` id: SHA-256 of the trimmed, lowercased address (``""`` if none)."""
    return sha256_hex(normalize_email(email))
