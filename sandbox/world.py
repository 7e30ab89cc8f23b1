"""The synthetic world: HubSpot contacts, web pixel events and the planted truth.

``generate(out_dir, contacts, events_per_contact, seed)`` writes, streaming and
reproducibly (same arguments → byte-identical files):

- ``hubspot_contacts.jsonl``: one contact per line exactly as HubSpot's API
  returns it, with the messy values real CRMs hold (accents, upper case and
  spaces around e-mails, phones in national formats, dates of birth in half a
  dozen formats, countries typed by hand);
- ``truth.jsonl``: per contact, the persona, interest cluster, purchase intent
  and true age planted by the generator (plus true gender, birth date, country
  and E.164 phone digits), kept apart from everything the pipeline reads;
- ``web_events/dt=YYYY-MM-DD/events.jsonl``: pixel events over the 90 days
  before ``as_of``, following each person's interests and intent;
- ``world.json``: the parameters, written last (its presence means complete).

Everything is drawn from one ``random.Random(seed)`` through precomputed
lookup tables and pre-quoted JSON fragments; output is buffered per 5,000
contacts, so memory stays flat whatever the size (1M contacts and 20M events
need no more than a small world).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any, NamedTuple, TypeVar

from sandbox import communes as communes_mod
from sandbox import locales

log = logging.getLogger(__name__)

VERSION = 3  # 2: web events as funnel journeys in in-market bursts; 3: a long tail of surnames
DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 3 * 365  # contacts were created over the three years before as_of
EVENT_DAYS = 90  # web events cover the 90 days before as_of
CONTACTS_FILE = "hubspot_contacts.jsonl"
TRUTH_FILE = "truth.jsonl"
EVENTS_DIR = "web_events"
META_FILE = "world.json"
FIRST_ID = 100_001
SHOP = "https://shop.example.com"

T = TypeVar("T")

INTEREST_CLUSTERS = ("eco_fashion", "tech", "outdoor", "home_deco", "beauty", "gastronomy", "travel")


@dataclass(frozen=True)
class Persona:
    name: str
    weight: int
    age_range: tuple[int, int]
    minor_share: float  # share of the persona aged 13-17
    urban_share: float  # share living in a city of 100k+ inhabitants
    female_share: float
    interests: tuple[tuple[str, int], ...]
    intent_mean: float
    price_factor: float


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "eco_urban_young",
        22,
        (20, 34),
        0.02,
        0.85,
        0.62,
        (("eco_fashion", 45), ("outdoor", 20), ("beauty", 15), ("travel", 10), ("gastronomy", 10)),
        0.45,
        1.0,
    ),
    Persona(
        "family_suburban",
        25,
        (30, 52),
        0.03,
        0.25,
        0.56,
        (("home_deco", 40), ("outdoor", 20), ("gastronomy", 20), ("beauty", 10), ("tech", 10)),
        0.40,
        0.9,
    ),
    Persona(
        "premium_senior",
        15,
        (58, 82),
        0.0,
        0.45,
        0.52,
        (("travel", 35), ("gastronomy", 30), ("home_deco", 25), ("beauty", 10)),
        0.62,
        1.8,
    ),
    Persona(
        "bargain_student",
        20,
        (18, 25),
        0.33,
        0.70,
        0.50,
        (("tech", 40), ("beauty", 30), ("eco_fashion", 20), ("outdoor", 10)),
        0.20,
        0.6,
    ),
    Persona(
        "tech_professional",
        18,
        (26, 50),
        0.0,
        0.85,
        0.30,
        (("tech", 60), ("travel", 20), ("outdoor", 20)),
        0.55,
        1.3,
    ),
)

PRODUCTS: dict[str, tuple[tuple[str, float], ...]] = {
    "eco_fashion": (
        ("organic-cotton-tshirt", 29.9),
        ("recycled-denim-jeans", 89.0),
        ("linen-shirt", 59.0),
        ("hemp-sneakers", 95.0),
        ("merino-sweater", 120.0),
        ("upcycled-tote-bag", 25.0),
    ),
    "tech": (
        ("wireless-earbuds", 79.0),
        ("mechanical-keyboard", 119.0),
        ("4k-monitor", 349.0),
        ("usb-c-hub", 39.9),
        ("smartwatch", 229.0),
        ("refurbished-laptop", 649.0),
    ),
    "outdoor": (
        ("trail-running-shoes", 129.0),
        ("hiking-backpack-30l", 89.0),
        ("down-jacket", 199.0),
        ("camping-tent-2p", 159.0),
        ("headlamp", 34.9),
        ("water-filter-bottle", 29.0),
    ),
    "home_deco": (
        ("linen-bedding-set", 139.0),
        ("ceramic-vase", 45.0),
        ("rattan-armchair", 289.0),
        ("wool-rug", 199.0),
        ("scented-candle", 24.0),
        ("oak-side-table", 159.0),
    ),
    "beauty": (
        ("vitamin-c-serum", 32.0),
        ("solid-shampoo", 12.9),
        ("spf50-sunscreen", 19.9),
        ("eau-de-parfum", 89.0),
        ("night-cream", 45.0),
        ("lip-balm-set", 14.9),
    ),
    "gastronomy": (
        ("olive-oil-tasting-box", 49.0),
        ("cheese-selection", 39.0),
        ("bordeaux-wine-case", 119.0),
        ("chocolate-assortment", 29.0),
        ("coffee-subscription", 24.0),
        ("truffle-oil", 34.0),
    ),
    "travel": (
        ("cabin-suitcase", 169.0),
        ("travel-pillow", 29.0),
        ("city-guide-bundle", 35.0),
        ("noise-cancelling-headphones", 299.0),
        ("packing-cubes", 27.0),
        ("weekend-bag", 129.0),
    ),
}

EVENT_NAMES = ("PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase", "CartAbandon")


BITS = 12
SIZE = 1 << BITS  # every lookup table has exactly SIZE entries: index with rng.getrandbits(BITS)


def table(weighted: Sequence[tuple[T, float]]) -> tuple[T, ...]:
    """Weighted choice in O(1): the items repeated in proportion to their weight, SIZE entries."""
    total = float(sum(w for _, w in weighted))
    if total <= 0:
        raise ValueError("a lookup table needs at least one positive weight")
    items: list[T] = []
    acc = 0.0
    for item, weight in weighted:
        acc += weight
        items.extend([item] * (round(SIZE * acc / total) - len(items)))
    return tuple(items)


def even(values: Sequence[T]) -> tuple[T, ...]:
    return table([(v, 1.0) for v in values])


def _jstr(value: str | None) -> str:
    """A JSON string literal (values come from our tables: no quote, backslash or control character)."""
    return "null" if value is None else f'"{value}"'


class _Days:
    """'YYYY-MM-DD' per day number since the epoch, cached."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, day_no: int) -> str:
        text = self._cache.get(day_no)
        if text is None:
            text = self._cache[day_no] = (date(1970, 1, 1) + timedelta(days=day_no)).isoformat()
        return text


# 'HH:MM:SS' for every second of a day
HMS = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))


def _clean_dir(out_dir: Path) -> None:
    """Remove a previous world's files (only the ones this generator writes)."""
    for name in (META_FILE, CONTACTS_FILE, TRUTH_FILE):
        (out_dir / name).unlink(missing_ok=True)
    events = out_dir / EVENTS_DIR
    if events.is_dir():
        for part in events.glob("dt=*"):
            if part.is_dir():
                shutil.rmtree(part)


class _EventFiles:
    """One partition per day, written from bounded in-memory buffers."""

    def __init__(self, root: Path, day_names: Sequence[str]) -> None:
        self.root = root
        self.day_names = list(day_names)
        self.buffers: list[list[str]] = [[] for _ in day_names]
        self.handles: dict[int, Any] = {}
        self.count = 0

    def flush(self) -> None:
        for k, lines in enumerate(self.buffers):
            if not lines:
                continue
            fh = self.handles.get(k)
            if fh is None:
                folder = self.root / f"dt={self.day_names[k]}"
                folder.mkdir(parents=True, exist_ok=True)
                fh = self.handles[k] = open(folder / "events.jsonl", "w", encoding="utf-8")  # noqa: SIM115
            fh.write("".join(lines))
            self.count += len(lines)
            lines.clear()

    def close(self) -> None:
        self.flush()
        for fh in self.handles.values():
            fh.close()


class _Product(NamedTuple):
    """One product's pre-quoted event fragments ('"event_name":..,"url":..,"value":..,"currency":..,')."""

    view: str
    cart: str
    checkout: str
    abandon: str
    purchases: tuple[str, str, str]  # quantity 1, 2, 3


def _page_views(cluster: str) -> tuple[str, ...]:
    """PageView fragments: the shop's general pages, and (40 %) the person's own interest page."""
    pages = ("/", "/new-in", "/sale", "/about", "/blog", "/stores", "/faq")
    head = '"event_name":"PageView",'
    weighted = [
        (f'{head}"url":"{SHOP}{page}","value":null,"currency":null,', 0.6 / len(pages)) for page in pages
    ]
    weighted.append((f'{head}"url":"{SHOP}/{cluster}","value":null,"currency":null,', 0.4))
    return table(weighted)


def _products(persona: Persona, cluster: str) -> tuple[_Product, ...]:
    out = []
    for slug, price in PRODUCTS[cluster]:
        value = price * persona.price_factor

        def frag(name: str, url: str, amount: float) -> str:
            return f'"event_name":"{name}","url":"{url}","value":{amount:.2f},"currency":"EUR",'

        page = f"{SHOP}/{cluster}/{slug}"
        out.append(
            _Product(
                frag("ViewContent", page, value),
                frag("AddToCart", page, value),
                frag("InitiateCheckout", f"{SHOP}/checkout", value),
                frag("CartAbandon", f"{SHOP}/checkout", value),
                tuple(frag("Purchase", f"{SHOP}/checkout/confirmation", value * q) for q in (1, 2, 3)),
            )
        )
    return tuple(out)


def _funnel_odds(intent: float) -> tuple[float, float, float, float]:
    """P(views a product), P(adds it to the cart | viewed), P(checks out | cart), P(buys | checkout)."""
    return 0.55 + 0.30 * intent, 0.08 + 0.60 * intent, 0.30 + 0.50 * intent, 0.30 + 0.60 * intent


class _NameForms(NamedTuple):
    """A name's JSON literals as CRM users type it, and its folded form for e-mail addresses."""

    plain: str
    upper: str
    lower: str
    spaced: str
    folded: str


def _name_forms(table_: dict[str, tuple[str, ...]]) -> dict[str, tuple[_NameForms, ...]]:
    return {
        country: tuple(
            _NameForms(
                f'"{n}"',
                f'"{n.upper()}"',
                f'"{n.lower()}"',
                f'" {n}"' if i % 2 else f'"{n} "',
                locales.fold(n),
            )
            for i, n in enumerate(values)
        )
        for country, values in table_.items()
    }


class _Place(NamedTuple):
    """JSON literals of a postal code and its city as typed: plain, upper case, lower case."""

    zip: str
    zip_no_zero: str  # the leading zero a spreadsheet ate
    city: str
    city_upper: str
    city_lower: str


def _place(postal_code: str, city: str) -> _Place:
    stripped = postal_code[1:] if postal_code.startswith("0") else postal_code
    return _Place(f'"{postal_code}"', f'"{stripped}"', f'"{city}"', f'"{city.upper()}"', f'"{city.lower()}"')


class _Tables:
    """Everything precomputed once per generation."""

    def __init__(self) -> None:
        self.persona = table([(p, p.weight) for p in PERSONAS])
        self.interests = {p.name: table(list(p.interests)) for p in PERSONAS}
        self.country = table(list(locales.COUNTRY_WEIGHTS.items()))
        female = _name_forms(locales.FEMALE)
        male = _name_forms(locales.MALE)
        last = _name_forms(locales.LAST)
        # the long tail of surnames (locales.SURNAME_TAIL_SHARE of contacts): one table per family
        tails: dict[tuple[str, ...], tuple[_NameForms, ...]] = {}
        self.surname_tail: dict[str, tuple[_NameForms, ...]] = {}
        for c in locales.COUNTRY_WEIGHTS:
            names = locales.surname_tail(c)
            if names not in tails:
                tails[names] = _name_forms({c: names})[c]
            self.surname_tail[c] = tails[names]
        rows = communes_mod.load()
        city_pop: dict[str, int] = {}
        for row in rows:
            city_pop[row.city] = city_pop.get(row.city, 0) + row.population
        places = [(_place(r.postal_code, r.city), r.population, city_pop[r.city]) for r in rows]
        self.urban = table([(pl, float(pop)) for pl, pop, cp in places if cp >= 100_000])
        # smaller towns: weight by the square root so villages appear, rarely
        self.town = table([(pl, float(pop) ** 0.5) for pl, pop, cp in places if cp < 100_000])
        # per country: (female, male, last names, e-mail providers, spellings, languages, places or None)
        self.by_country = {
            c: (
                even(female[c]),
                even(male[c]),
                even(last[c]),
                table(locales.EMAIL_PROVIDERS[c]),
                table([(_jstr(v), w) for v, w in locales.COUNTRY_SPELLINGS[c]]),
                table([(_jstr(v), w) for v, w in locales.LANGUAGES[c]]),
                table([(_place(z, city), w) for z, city, w in locales.FOREIGN_PLACES[c]])
                if c != "FR"
                else None,
            )
            for c in locales.COUNTRY_WEIGHTS
        }
        self.gender = {
            True: table([(_jstr(v), w) for v, w in GENDER_TYPED["f"]]),
            False: table([(_jstr(v), w) for v, w in GENDER_TYPED["m"]]),
        }
        self.cluster_any = even(INTEREST_CLUSTERS)
        self.page_views = {c: _page_views(c) for c in INTEREST_CLUSTERS}
        # [persona][cluster] -> the cluster's products, priced for the persona
        self.products = {p.name: {c: _products(p, c) for c in INTEREST_CLUSTERS} for p in PERSONAS}


# Mobile numbers: leading digits of the national number and how many random digits follow.
MOBILE = {
    "BE": ("47", 7),
    "NL": ("6", 8),
    "DE": ("151", 8),
    "LU": ("621", 6),
    "ES": ("6", 8),
    "IT": ("3", 9),
    "PT": ("91", 7),
}


def _phone(rnd: Any, country: str) -> tuple[str, str]:
    """(JSON literal of the phone as typed in the CRM, E.164 digits)."""
    fmt = rnd()
    if country == "FR":
        d = f"{'6' if fmt < 0.7 else '7'}{int(rnd() * 100_000_000):08d}"
        fmt = rnd()
        if fmt < 0.40:
            typed = f'"0{d[0]} {d[1:3]} {d[3:5]} {d[5:7]} {d[7:]}"'
        elif fmt < 0.55:
            typed = f'"+33 {d[0]} {d[1:3]} {d[3:5]} {d[5:7]} {d[7:]}"'
        elif fmt < 0.65:
            typed = f'"0033{d}"'
        elif fmt < 0.72:
            typed = f'"(0){d[0]}-{d[1:3]}-{d[3:5]}-{d[5:7]}-{d[7:]}"'
        elif fmt < 0.87:
            typed = f'"0{d}"'
        elif fmt < 0.95:
            typed = f'"+33{d}"'
        else:
            typed = f'"0{d[0]}.{d[1:3]}.{d[3:5]}.{d[5:7]}.{d[7:]}"'
        return typed, "33" + d
    dial, trunk = locales.DIAL[country]
    lead, digits = MOBILE[country]
    d = lead + f"{int(rnd() * 10**digits):0{digits}d}"
    if fmt < 0.5:
        typed = f'"{trunk}{d[:3]} {d[3:6]} {d[6:]}"'
    elif fmt < 0.8:
        typed = f'"+{dial} {d[:3]} {d[3:6]} {d[6:]}"'
    else:
        typed = f'"+{dial}{d}"'
    return typed, dial + d


class _Birth(NamedTuple):
    iso: str
    year: int
    month: int
    day: int
    serial: int  # spreadsheet day number (days since 1899-12-30)


def _births(first: date, last: date) -> list[_Birth]:
    base = date(1899, 12, 30).toordinal()
    out = []
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        d = date.fromordinal(ordinal)
        out.append(_Birth(d.isoformat(), d.year, d.month, d.day, ordinal - base))
    return out


def _dob(b: _Birth, fmt: float) -> str:
    """JSON literal of the date of birth as some CRM user typed it."""
    if fmt < 0.38:
        return f'"{b.iso}"'
    if fmt < 0.62:
        return f'"{b.day:02d}/{b.month:02d}/{b.year}"'
    if fmt < 0.70:
        return f'"{b.day:02d}.{b.month:02d}.{b.year % 100:02d}"'
    if fmt < 0.75:
        return f'"{b.year}"'
    if fmt < 0.80:
        return f'"{b.serial}"'
    if fmt < 0.83:
        return '""'
    if fmt < 0.845:
        return f'"31/02/{b.year}"'  # an impossible date
    if fmt < 0.855:
        return f'"30/02/{b.year}"'
    return "null"


GENDER_TYPED = {
    "f": (("F", 40), ("female", 12), ("Femme", 18), ("f", 5), ("", 8), (None, 17)),
    "m": (("M", 40), ("male", 12), ("Homme", 18), ("m", 5), ("", 8), (None, 17)),
}
LIFECYCLE = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


def generate(
    out_dir: Path,
    contacts: int = 10_000,
    events_per_contact: int = 5,
    seed: int = 42,
    *,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Write a synthetic world into ``out_dir`` and return its counts.

    ``as_of`` is the world's "now" (default 2026-11-01T00:00:00Z, fixed so the
    same arguments always give the same bytes): contacts are created over the
    three years before it, events fall in the 90 days before it.
    ``events_per_contact`` is the mean; active, high-intent people get more.
    """
    if contacts < 0 or events_per_contact < 0:
        raise ValueError(
            f"contacts ({contacts}) and events_per_contact ({events_per_contact}) must be zero or more"
        )
    as_of = (as_of or DEFAULT_AS_OF).astimezone(UTC)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean_dir(out_dir)
    started = time.monotonic()
    rng = Random(seed)
    rnd = rng.random
    bits = rng.getrandbits
    tabs = _Tables()
    day_name = _Days()
    hms = HMS

    as_of_ms = int(as_of.timestamp() * 1000)
    as_of_date = as_of.date()
    as_of_ord = as_of_date.toordinal()
    as_of_md = (as_of_date.month, as_of_date.day)
    as_of_year = as_of_date.year
    history_start = as_of_ms - HISTORY_DAYS * 86_400_000
    step = (as_of_ms - 86_400_000 - history_start) / max(contacts, 1)
    epoch_ord = date(1970, 1, 1).toordinal()
    event_day0 = as_of_ord - EVENT_DAYS - epoch_ord
    mean_intent = sum(p.weight * p.intent_mean for p in PERSONAS) / sum(p.weight for p in PERSONAS)
    events_scale = events_per_contact / (0.5 + mean_intent)

    events = _EventFiles(out_dir / EVENTS_DIR, [day_name(event_day0 + k) for k in range(EVENT_DAYS)])
    ev_buffers, ev_days = events.buffers, events.day_names
    # every possible birth date (ages 13..100 at as_of), and the history's day names
    births = _births(date.fromordinal(as_of_ord - 102 * 366), as_of_date)
    birth_base = as_of_ord - 102 * 366
    first_hist_day = history_start // 86_400_000
    hist_days = [day_name(first_hist_day + k) for k in range(HISTORY_DAYS + 2)]
    event_seq = 0
    minors = consenting = erasures = 0
    import_left = import_ms = 0
    persona_t, country_t, urban_t, town_t = tabs.persona, tabs.country, tabs.urban, tabs.town
    cluster_any, gender_t, by_country = tabs.cluster_any, tabs.gender, tabs.by_country
    surname_tail, tail_bits, tail_share = (
        tabs.surname_tail,
        locales.SURNAME_TAIL_BITS,
        locales.SURNAME_TAIL_SHARE,
    )
    contact_buf: list[str] = []
    truth_buf: list[str] = []
    with (
        open(out_dir / CONTACTS_FILE, "w", encoding="utf-8") as contacts_fh,
        open(out_dir / TRUTH_FILE, "w", encoding="utf-8") as truth_fh,
    ):
        for i in range(contacts):
            persona = persona_t[bits(BITS)]
            country = country_t[bits(BITS)]
            female_t, male_t, last_t, provider_t, spelling_t, language_t, places_t = by_country[country]
            female = rnd() < persona.female_share
            if rnd() < persona.minor_share:
                age = 13 + int(rnd() * 5)
            else:
                lo, hi = persona.age_range
                age = lo + int(rnd() * (hi - lo + 1))
            birth = births[as_of_ord - age * 365 - age // 4 - 1 - int(rnd() * 364) - birth_base]
            true_age = as_of_year - birth.year - (as_of_md < (birth.month, birth.day))
            first = (female_t if female else male_t)[bits(BITS)]
            last = surname_tail[country][bits(tail_bits)] if rnd() < tail_share else last_t[bits(BITS)]
            cluster = tabs.interests[persona.name][bits(BITS)]
            intent = persona.intent_mean + (rnd() + rnd() + rnd() - 1.5) * 0.45
            intent = 0.01 if intent < 0.01 else 0.99 if intent > 0.99 else intent

            # -- identity as typed into the CRM (JSON literals)
            u = rnd()
            if u < 0.02:
                email = "null"
            else:
                f, ln = first.folded, last.folded
                pattern = rnd()
                if pattern < 0.45:
                    local = f"{f}.{ln}{i}"
                elif pattern < 0.70:
                    local = f"{f}{ln}{i}"
                elif pattern < 0.85:
                    local = f"{f[:1]}.{ln}{i}"
                else:
                    local = f"{ln}.{f}{i}"
                address = f"{local}@{provider_t[bits(BITS)]}.example"
                if u < 0.035:
                    email = f'"{address.upper()}"'
                elif u < 0.07:
                    email = f'"{address[:1].upper()}{address[1:]}"'
                elif u < 0.09:
                    email = f'" {address} "'
                elif u < 0.10:
                    email = f'"{address}  "'
                else:
                    email = f'"{address}"'
            u = rnd()
            if u < 0.14:
                phone, e164 = ("null" if u < 0.12 else '""'), "null"
            else:
                phone, e164 = _phone(rnd, country)
                e164 = f'"{e164}"'
            u = rnd()
            firstname = (
                first.plain
                if u >= 0.10
                else "null"
                if u < 0.02
                else first.upper
                if u < 0.05
                else first.lower
                if u < 0.08
                else first.spaced
            )
            u = rnd()
            lastname = (
                last.plain
                if u >= 0.19
                else "null"
                if u < 0.02
                else last.upper
                if u < 0.14
                else last.lower
                if u < 0.17
                else last.spaced
            )
            dob = _dob(birth, rnd())
            gender = gender_t[female][bits(BITS)]
            if places_t is None:
                place = (urban_t if rnd() < persona.urban_share else town_t)[bits(BITS)]
                zipcode = place.zip_no_zero if rnd() < 0.15 else place.zip
            else:
                place = places_t[bits(BITS)]
                zipcode = place.zip
            u = rnd()
            city = place.city
            if u < 0.02:
                zipcode = "null"
            elif u < 0.04:
                city = "null"
            elif u < 0.12:
                city = place.city_upper
            elif u < 0.14:
                city = place.city_lower
            country_typed = "null" if rnd() < 0.02 else spelling_t[bits(BITS)]
            language = "null" if rnd() < 0.05 else language_t[bits(BITS)]
            consent = rnd() < 0.85
            erasure = rnd() < 0.02
            stage = intent + 0.3 * rnd()
            lifecycle = (
                LIFECYCLE[0]
                if stage < 0.25
                else LIFECYCLE[1]
                if stage < 0.45
                else LIFECYCLE[2]
                if stage < 0.6
                else LIFECYCLE[3]
                if stage < 0.7
                else LIFECYCLE[4]
                if stage < 0.8
                else LIFECYCLE[5]
                if stage < 1.05
                else LIFECYCLE[6]
            )
            if rnd() < 0.03:
                lifecycle = LIFECYCLE[7]

            # -- timeline: ids grow with creation; an import gives a run of contacts one timestamp
            contact_id = FIRST_ID + 7 * i + int(rnd() * 7)
            if import_left == 0 and rnd() < 0.002:
                import_left = 20 + int(rnd() * 231)  # 20..250: longer than a page, shorter than a small cap
                import_ms = int(history_start + step * i + rnd() * step)
            if import_left:
                import_left -= 1
                created_ms = lm_ms = import_ms
            else:
                created_ms = int(history_start + step * i + rnd() * step)
                if rnd() < 0.35:
                    lm_ms = created_ms
                else:
                    v = rnd()
                    lm_ms = created_ms + int((as_of_ms - 1 - created_ms) * (1 - v * v))
            created_iso = (
                f"{hist_days[created_ms // 86_400_000 - first_hist_day]}T"
                f"{hms[created_ms // 1000 % 86_400]}.{created_ms % 1000:03d}Z"
            )
            lm_iso = (
                created_iso
                if lm_ms == created_ms
                else f"{hist_days[lm_ms // 86_400_000 - first_hist_day]}T{hms[lm_ms // 1000 % 86_400]}."
                f"{lm_ms % 1000:03d}Z"
            )
            contact_buf.append(
                f'{{"id":"{contact_id}","properties":{{'
                f'"email":{email},"phone":{phone},"firstname":{firstname},"lastname":{lastname},'
                f'"date_of_birth":{dob},"gender":{gender},"zip":{zipcode},"city":{city},'
                f'"country":{country_typed},"hs_language":{language},"lifecyclestage":"{lifecycle}",'
                f'"marketing_consent":"{"true" if consent else "false"}",'
                f'"erasure_requested":"{"true" if erasure else "false"}",'
                f'"createdate":"{created_iso}","lastmodifieddate":"{lm_iso}","hs_object_id":"{contact_id}"}},'
                f'"createdAt":"{created_iso}","updatedAt":"{lm_iso}","archived":false}}\n'
            )
            truth_buf.append(
                f'{{"contact_id":"{contact_id}","persona":"{persona.name}","interest_cluster":"{cluster}",'
                f'"purchase_intent":{intent:.4f},"age":{true_age},"gender":"{"f" if female else "m"}",'
                f'"birth_date":"{birth.iso}","country_code":"{country}","phone_e164_digits":{e164}}}\n'
            )
            minors += true_age < 18
            consenting += consent
            erasures += erasure

            # -- web events: visits are funnel journeys (pages, a product, cart, checkout, purchase or
            # abandon), deeper the higher the intent; they cluster in an in-market period around one
            # day (most people are in market lately), with some background browsing on other days
            n_events = int(events_scale * (0.5 + intent) + rnd())
            if n_events:
                first_day = max(0, created_ms // 86_400_000 - event_day0)
                span = EVENT_DAYS - first_day
                if span > 0:
                    pages = tabs.page_views[cluster]
                    products = tabs.products[persona.name]
                    own = products[cluster]
                    p_view, p_cart, p_checkout, p_buy = _funnel_odds(intent)
                    cid = f'"contact_id":"{contact_id}",'
                    anon = f'"anonymous_id":"anon-{(i * 2654435761 + seed) & 0xFFFFFFFFFF:010x}",'
                    identified = 0.35 + 0.4 * consent
                    centre = first_day + int(span * (1 - rnd() ** 1.5))
                    width = 2.0 + 6.0 * rnd()
                    # whole journeys until the budget is spent; starting one short keeps the mean near
                    # events_per_contact despite the last journey's overshoot
                    left = n_events - 1
                    while left > 0:
                        if rnd() < 0.8:
                            day = centre + int((rnd() + rnd() + rnd() - 1.5) * 2 * width)
                            day = (
                                first_day if day < first_day else EVENT_DAYS - 1 if day >= EVENT_DAYS else day
                            )
                        else:
                            day = first_day + int(span * rnd())
                        steps = [(pages[bits(BITS)], False)]
                        while rnd() < 0.35:
                            steps.append((pages[bits(BITS)], False))
                        if rnd() < p_view:
                            shelf = own if rnd() < 0.7 else products[cluster_any[bits(BITS)]]
                            product = shelf[int(rnd() * len(shelf))]
                            steps.append((product.view, False))
                            if rnd() < 0.3:
                                steps.append((product.view, False))
                            if rnd() < p_cart:
                                steps.append((product.cart, False))
                                if rnd() < p_checkout:
                                    steps.append((product.checkout, False))
                                    if rnd() < p_buy:
                                        steps.append((product.purchases[int(rnd() ** 3 * 3)], True))
                                    else:
                                        steps.append((product.abandon, False))
                                elif rnd() < 0.5:
                                    steps.append((product.abandon, False))
                        left -= len(steps)  # journeys are never cut short: the last one may overshoot
                        t = 21_600_000 + int(rnd() * 64_800_000)  # visits start between 06:00 and 24:00
                        for frag, purchase in steps:
                            who = cid if rnd() < (0.97 if purchase else identified) else '"contact_id":null,'
                            event_seq += 1
                            ev_buffers[day].append(
                                f'{{"event_id":"ev-{seed}-{event_seq}",{frag}{who}{anon}'
                                f'"event_time":"{ev_days[day]}T{hms[t // 1000]}.{t % 1000:03d}Z"}}\n'
                            )
                            t += 20_000 + int(rnd() * 180_000)
                            if t >= 86_400_000:
                                t = 86_399_999
            if len(contact_buf) >= 5000:
                contacts_fh.write("".join(contact_buf))
                truth_fh.write("".join(truth_buf))
                contact_buf.clear()
                truth_buf.clear()
                events.flush()
        contacts_fh.write("".join(contact_buf))
        truth_fh.write("".join(truth_buf))
    events.close()
    from sandbox.world_crm import generate_crm  # noqa: PLC0415 - post-pass: Salesforce, deals, file drop

    generate_crm(out_dir, seed=seed, as_of=as_of)
    from sandbox.world_social import generate as generate_social  # noqa: PLC0415 - post-pass: Facebook, LinkedIn

    generate_social(out_dir, seed=seed, as_of=as_of)

    meta = {
        "seed": seed,
        "contacts": contacts,
        "events_per_contact": events_per_contact,
        # the world's own "now", not the wall clock: keeps the files byte-identical across runs
        "generated_at": as_of.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "version": VERSION,
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "events": events.count,
        "event_days": len(events.handles),
    }
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    seconds = time.monotonic() - started
    log.info(
        "world: %d contacts (%d minors, %d consenting, %d erasure requests), %d events over %d days in %.1fs",
        contacts,
        minors,
        consenting,
        erasures,
        events.count,
        len(events.handles),
        seconds,
    )
    return {
        **meta,
        "minors": minors,
        "consenting": consenting,
        "erasure_requested": erasures,
        "seconds": round(seconds, 2),
        "out_dir": str(out_dir),
    }
