"""`dbt build` of dbt_project/ on a fresh database loaded with messy HubSpot contacts.

The contacts are generated here (seeded, no dependency on the sandbox package) in the formats a
CRM really holds: emails with capitals and spaces, phones in national and international forms,
birth dates as ISO, day-first, two-digit years, years only, Excel serials and impossible dates,
genders and countries in several languages. For each contact the test also computes, in Python,
what the marts must hold (normalised values, SHA-256 hashes, audience membership) and compares.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from audience import warehouse

pytestmark = pytest.mark.dbt

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
AS_OF = dt.date(2026, 1, 15)
EXCEL_EPOCH = dt.date(1899, 12, 30)

FIRST_NAMES = {
    "FR": ["Hélène", "José", "Chloé", "Léa", "Théo", "Maël", "Zoé", "Jean-Pierre", "Anaïs", "François"],
    "BE": ["Lotte", "Wouter", "Amélie", "Jérôme", "Inès"],
    "DE": ["Jürgen", "Björn", "Sören", "Käthe", "Lena"],
}
LAST_NAMES = {
    "FR": ["Martin", "Lefèvre", "Dubois", "Girard", "Le Gall", "D'Almeida", "Bézier"],
    "BE": ["Peeters", "Janssens", "Van den Broeck", "Dupont"],
    "DE": ["Müller", "Schäfer", "Groß", "Weiß-Becker"],
}
CITIES = {
    "FR": [
        ("75011", "Paris"),
        ("69003", "Lyon"),
        ("44000", "Nantes"),
        ("42000", "Saint-Étienne"),
        ("01000", "Bourg-en-Bresse"),
    ],
    "BE": [("1000", "Bruxelles"), ("4000", "Liège")],
    "DE": [("10115", "Berlin"), ("80331", "München")],
}
COUNTRY_SPELLINGS = {
    "FR": ["FR", "France", "fr", " france "],
    "BE": ["BE", "Belgique", "België"],
    "DE": ["DE", "Germany", "Deutschland", "Allemagne"],
}
CALLING_CODES = {"FR": "33", "BE": "32", "DE": "49"}
GENDERS = {"m": ["M", "male", "Homme", "h"], "f": ["F", "female", "Femme", "w"], None: ["", "autre"]}


def sha(value: str | None) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest() if value else ""


def meta_letters(value: str | None) -> str | None:
    """FN/LN/CT per Meta: lower case, only letters kept (also outside a-z)."""
    if value is None:
        return None
    return "".join(ch for ch in value.lower() if ch.isalpha()) or None


@dataclass
class Contact:
    contact_id: str
    country: str | None  # expected ISO2
    email_typed: str
    phone_typed: str
    birth_date_typed: str
    gender_typed: str
    first_name: str
    last_name: str
    zip_typed: str
    city: str
    country_typed: str
    consent: bool
    erasure: bool
    archived: bool = False
    # what the marts must hold
    email: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    birth_date_invalid: bool = False
    gender: str | None = None
    zip: str | None = None
    older_versions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def age(self) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return AS_OF.year - b.year - ((AS_OF.month, AS_OF.day) < (b.month, b.day))

    @property
    def is_member(self) -> bool:
        age = self.age
        reachable = bool(self.email or self.phone)
        return self.consent and not self.erasure and age is not None and age >= 18 and reachable

    def properties(self) -> dict[str, str | None]:
        return {
            "email": self.email_typed,
            "phone": self.phone_typed,
            "firstname": self.first_name,
            "lastname": self.last_name,
            "date_of_birth": self.birth_date_typed,
            "gender": self.gender_typed,
            "zip": self.zip_typed,
            "city": self.city,
            "country": self.country_typed,
            "hs_language": "fr",
            "lifecyclestage": "lead",
            "marketing_consent": "true" if self.consent else "false",
            "erasure_requested": "true" if self.erasure else "false",
            "hs_object_id": self.contact_id,
        }


def _typed_birth_date(rng: random.Random, born: dt.date) -> tuple[str, dt.date | None, bool]:
    """A birth date as a person might type it, with what parsing must give and the invalid flag."""
    kinds = ["iso", "dmy", "dmy2", "year", "excel", "blank", "impossible", "garbage"]
    kind = rng.choices(kinds, weights=[3, 3, 2, 1, 1, 1, 1, 1])[0]
    if kind == "iso":
        return born.isoformat(), born, False
    if kind == "dmy":
        return born.strftime("%d/%m/%Y"), born, False
    if kind == "dmy2":
        return born.strftime("%d.%m.%y"), born, False
    if kind == "year":
        return str(born.year), dt.date(born.year, 7, 1), False
    if kind == "excel":
        return str((born - EXCEL_EPOCH).days), born, False
    if kind == "blank":
        return "", None, False
    if kind == "impossible":
        return f"31/02/{born.year}", None, True
    return "n/a", None, True


def _typed_phone(rng: random.Random, country: str) -> tuple[str, str | None]:
    if rng.random() < 0.12:
        return "", None
    cc = CALLING_CODES[country]
    if country == "FR":
        national = f"{rng.choice('67')}{rng.randrange(10**7, 10**8)}"
        pairs = " ".join(national[i : i + 2] for i in range(1, 9, 2))
        typed = rng.choice(
            [
                f"0{national[0]} {pairs}",
                f"+33 {national[0]} {pairs}",
                f"0033{national}",
                f"(0){national[0]}-{pairs.replace(' ', '-')}",
            ]
        )
    elif country == "BE":
        national = f"4{rng.randrange(10**7, 10**8)}"
        typed = rng.choice([f"0{national}", f"+32 {national[:3]} {national[3:]}", f"0032{national}"])
    else:
        national = f"15{rng.randrange(10**8, 10**9)}"
        typed = rng.choice([f"0{national}", f"+49 {national[:3]} {national[3:]}", f"+49 (0){national}"])
    return typed, cc + national


def generate_contacts(count: int = 200, seed: int = 20260115) -> list[Contact]:
    rng = random.Random(seed)
    contacts = list(_planted_contacts())
    for n in range(count - len(contacts)):
        country = rng.choices(["FR", "BE", "DE"], weights=[7, 2, 1])[0]
        first, last = rng.choice(FIRST_NAMES[country]), rng.choice(LAST_NAMES[country])
        born = dt.date(rng.randint(1940, 2012), rng.randint(1, 12), rng.randint(1, 28))
        dob_typed, dob, dob_invalid = _typed_birth_date(rng, born)
        phone_typed, phone = _typed_phone(rng, country)
        local = f"{meta_letters(first)}.{meta_letters(last)}{n}".encode("ascii", "ignore").decode()
        email = f"{local}@example.{country.lower()}" if rng.random() > 0.1 else None
        email_typed = "" if email is None else rng.choice([email, email.upper(), f"  {email.title()} "])
        gender = rng.choice(["m", "f", "m", "f", None])
        zip_code, city = rng.choice(CITIES[country])
        zip_typed = zip_code.lstrip("0") if rng.random() < 0.5 else zip_code  # spreadsheets drop zeros
        contacts.append(
            Contact(
                contact_id=str(1000 + n),
                country=country,
                email_typed=email_typed,
                phone_typed=phone_typed,
                birth_date_typed=dob_typed,
                gender_typed=rng.choice(GENDERS[gender]),
                first_name=first,
                last_name=last,
                zip_typed=zip_typed,
                city=city,
                country_typed=rng.choice(COUNTRY_SPELLINGS[country]),
                consent=rng.random() < 0.85,
                erasure=rng.random() < 0.03,
                email=email,
                phone=phone,
                birth_date=dob,
                birth_date_invalid=dob_invalid,
                gender=gender,
                zip=zip_code if country == "FR" else zip_typed,
            )
        )
    return contacts


def _planted_contacts() -> Iterator[Contact]:
    base = dict(
        phone_typed="",
        birth_date_typed="1980-01-01",
        gender_typed="",
        first_name="Anne",
        last_name="Planted",
        zip_typed="44000",
        city="Nantes",
        country_typed="France",
        country="FR",
        consent=True,
        erasure=False,
        birth_date=dt.date(1980, 1, 1),
        zip="44000",
    )

    def planted(contact_id: str, **overrides: Any) -> Contact:
        values = {**base, "email_typed": f"p{contact_id}@example.fr", "email": f"p{contact_id}@example.fr"}
        values.update(overrides)
        return Contact(contact_id=contact_id, **values)

    known = planted(
        "900001",
        email_typed="  Known@Example.FR ",
        email="known@example.fr",
        phone_typed="06 12 34 56 78",
        phone="33612345678",
        first_name="José",
        last_name="Müller",
        birth_date_typed="12/04/1987",
        birth_date=dt.date(1987, 4, 12),
        gender_typed="Homme",
        gender="m",
        zip_typed="75011",
        zip="75011",
        city="Paris",
    )
    known.older_versions.append({"email": "old.known@example.fr", "marketing_consent": "false"})
    yield known
    yield planted("900002", birth_date_typed="2010-05-05", birth_date=dt.date(2010, 5, 5))  # minor
    yield planted("900003", consent=False)
    yield planted("900004", erasure=True)
    yield planted("900005", email_typed="", email=None)  # unreachable
    yield planted("900006", birth_date_typed="31/02/1990", birth_date=None, birth_date_invalid=True)
    yield planted("900007", archived=True)
    yield planted(
        "900008",
        country_typed="Belgique",
        country="BE",
        phone_typed="0470 12 34 56",
        phone="32470123456",
        birth_date_typed="1987",
        birth_date=dt.date(1987, 7, 1),
        zip_typed="1000",
        zip="1000",
        city="Bruxelles",
    )
    yield planted(
        "900009",
        country_typed="Germany",
        country="DE",
        birth_date_typed="31880",
        birth_date=dt.date(1987, 4, 13),
        gender_typed="female",
        gender="f",
        zip_typed="10115",
        zip="10115",
        city="Berlin",
    )
    withdrawn = planted("900010", consent=False)  # consent withdrawn in the latest version
    withdrawn.older_versions.append({"marketing_consent": "true"})
    yield withdrawn


def raw_rows(contacts: list[Contact]) -> Iterator[tuple[Any, ...]]:
    first_load = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)
    second_load = dt.datetime(2025, 9, 1, 3, 0, tzinfo=dt.UTC)
    for contact in contacts:
        versions = [
            (first_load, "batch-1", {**contact.properties(), **old}) for old in contact.older_versions
        ]
        versions.append((second_load, "batch-2", contact.properties()))
        for loaded_at, batch_id, properties in versions:
            updated = loaded_at - dt.timedelta(hours=1)
            stamp = updated.strftime("%Y-%m-%dT%H:%M:%S.000Z")
            payload = {
                "id": contact.contact_id,
                "properties": {
                    **properties,
                    "createdate": "2024-01-01T00:00:00.000Z",
                    "lastmodifieddate": stamp,
                },
                "createdAt": "2024-01-01T00:00:00.000Z",
                "updatedAt": stamp,
                "archived": contact.archived,
            }
            yield batch_id, loaded_at, contact.contact_id, updated, payload


@dataclass
class Built:
    contacts: list[Contact]
    conn: psycopg.Connection
    seconds: float
    target: Path

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - heavy import, only for this module

    params = warehouse.params()
    dbname = f"audience_test_dbt_{os.getpid()}"
    test_params = dataclasses.replace(params, dbname=dbname)
    with psycopg.connect(**params.libpq("postgres"), autocommit=True) as admin:
        admin.execute(f'drop database if exists "{dbname}" with (force)')
        admin.execute(f'create database "{dbname}"')
    contacts = generate_contacts()
    try:
        with psycopg.connect(**test_params.libpq()) as conn:
            warehouse.ensure_schemas(conn)  # creates raw.hubspot__contacts (and every other source table)
            warehouse.copy_rows(
                conn,
                "raw.hubspot__contacts",
                ["_batch_id", "_loaded_at", "_record_id", "_updated_at", "payload"],
                raw_rows(contacts),
            )
            conn.commit()

        work = tmp_path_factory.mktemp("dbt")
        with pytest.MonkeyPatch.context() as mp:
            for key, value in test_params.env().items():
                mp.setenv(key, value)
            started = time.monotonic()
            result = dbtRunner().invoke(
                [
                    "--quiet",
                    "--no-use-colors",
                    "build",
                    "--project-dir",
                    str(PROJECT_DIR),
                    "--profiles-dir",
                    str(PROJECT_DIR),
                    "--target-path",
                    str(work / "target"),
                    "--log-path",
                    str(work / "logs"),
                    "--vars",
                    json.dumps({"as_of_date": AS_OF.isoformat()}),
                ]
            )
            seconds = time.monotonic() - started
        failed = [
            f"{r.node.unique_id}: {r.status} {r.message or ''}"
            for r in (result.result or [])
            if str(r.status) in {"error", "fail", "runtime error"}
        ]
        assert result.success, f"dbt build failed: {result.exception or failed}"
        with psycopg.connect(**test_params.libpq()) as conn:
            yield Built(contacts, conn, seconds, work / "target")
    finally:
        with psycopg.connect(**params.libpq("postgres"), autocommit=True) as admin:
            admin.execute(f'drop database if exists "{dbname}" with (force)')


def test_event_ids_are_unique_by_the_raw_tables_unique_index(built: Built) -> None:
    """stg_web_events__events.event_id is checked by the catalogue (test unique_by_index): the test
    passes with the raw table's unique index and fails without it, or with a non-unique one."""
    sql = next((built.target / "compiled").rglob("unique_by_index_stg_web_events_*.sql")).read_text()
    assert built.rows(sql) == []
    try:
        built.conn.execute("drop index raw.web_events__events__event_id_key")
        assert len(built.rows(sql)) == 1
        built.conn.execute("create index by_record_id on raw.web_events__events (_record_id)")
        assert len(built.rows(sql)) == 1
        built.conn.execute(
            "create unique index by_record_id_and_time on raw.web_events__events (_record_id, _updated_at)"
        )
        assert len(built.rows(sql)) == 1
    finally:
        built.conn.rollback()
    assert built.rows(sql) == []
    built.conn.rollback()


def test_visit_event_ids_are_unique_by_the_index_their_build_creates(built: Built) -> None:
    """int_web_events__visits is built with a unique index on event_id (a duplicate fails the
    build); its unique_by_index test, without arguments, checks the model's own index."""
    sql = next((built.target / "compiled").rglob("unique_by_index_int_web_events__visits_*.sql")).read_text()
    assert built.rows(sql) == []
    (index,) = built.rows(
        "select indexrelid::regclass::text as name from pg_index "
        "where indrelid = 'intermediate.int_web_events__visits'::regclass and indisunique"
    )
    try:
        with pytest.raises(psycopg.errors.UniqueViolation):
            built.conn.execute(
                "insert into intermediate.int_web_events__visits (event_id) values ('twice'), ('twice')"
            )
        built.conn.rollback()
        built.conn.execute(f"drop index {index['name']}")
        assert len(built.rows(sql)) == 1
    finally:
        built.conn.rollback()
    assert built.rows(sql) == []
    built.conn.rollback()


def _column_check_failures(built: Built, test_name: str, break_rows: Callable[[], None]) -> dict:
    """A column_checks test's result as {(check, column): failing rows} after ``break_rows()``, which
    runs in a transaction rolled back after; the test reads the model once, and passes before and
    after."""
    sql = next((built.target / "compiled").rglob(f"{test_name}.sql")).read_text()
    assert sql.count("from ") == 2, "one read of the model (the second 'from' is the checks' values)"
    assert built.rows(sql) == []
    try:
        break_rows()
        return {(r["check_name"], r["column_name"]): r["failing_rows"] for r in built.rows(sql)}
    finally:
        built.conn.rollback()
        assert built.rows(sql) == []
        built.conn.rollback()


def test_column_checks_name_each_failing_check_in_one_read(built: Built) -> None:
    """The visits' column checks (test column_checks) are one query: no row on the built data, and
    after breaking rows, one row per failing check with its column and how many rows break it."""

    def break_rows() -> None:
        # three events that break the checks: no name; then an unknown attribution and no visit start
        built.conn.execute(
            "insert into intermediate.int_web_events__visits "
            "(event_id, event_name, page_path, event_at, visit_id, is_visit_start, attribution_method) values "
            "('bad-1', null, '/', now(), 'v1', true, 'event'), "
            "('bad-2', 'PageView', '/', now(), 'v2', null, 'guessed'), "
            "('bad-3', 'PageView', '/', now(), 'v3', null, 'guessed')"
        )

    assert _column_check_failures(built, "column_checks_int_web_events__visits", break_rows) == {
        ("not_null", "event_name"): 1,
        ("not_null", "is_visit_start"): 2,
        ("accepted_values", "attribution_method"): 2,
    }


def test_member_hash_checks_catch_each_kind_of_bad_value_in_one_read(built: Built) -> None:
    """audience_members' not-null and hash checks (one column_checks test) fail on a null id, an
    upper-case digest, a digest of the wrong length, a null hash and the hash of '', each counted
    under its column; '' (Meta's "missing") passes."""
    (member,) = built.rows("select * from marts.audience_members limit 1")
    good = "0" * 64
    empty_hash = hashlib.sha256(b"").hexdigest()
    rows = [
        # (extern_id, email_sha256, phone_sha256, fn_sha256, zip_sha256)
        (None, good, "", "", ""),
        ("x1", good.upper().replace("0", "A"), "", "", ""),
        ("x2", good, good[:63], "", ""),
        ("x3", good, "", None, ""),
        ("x4", good, "", "", empty_hash),
        ("x5", "", "", "", ""),  # every identifier missing is '' everywhere: no hash check fails
    ]

    def break_rows() -> None:
        for n, (extern_id, email, phone, fn, zip_hash) in enumerate(rows):
            built.conn.execute(
                "insert into marts.audience_members (audience_key, person_id, extern_id, email_sha256, "
                "phone_sha256, fn_sha256, ln_sha256, ct_sha256, zip_sha256, country_sha256, doby_sha256, "
                "gen_sha256) select audience_key, %s, %s, %s, %s, %s, ln_sha256, ct_sha256, %s, "
                "country_sha256, doby_sha256, gen_sha256 "
                "from marts.audience_members where person_id = %s and audience_key = %s",
                (
                    f"bad-{n}",
                    extern_id,
                    email,
                    phone,
                    fn,
                    zip_hash,
                    member["person_id"],
                    member["audience_key"],
                ),
            )

    assert _column_check_failures(built, "column_checks_audience_members", break_rows) == {
        ("not_null", "extern_id"): 1,
        ("sha256_or_empty", "email_sha256"): 1,
        ("sha256_or_empty", "phone_sha256"): 1,
        ("sha256_or_empty", "fn_sha256"): 1,
        ("sha256_or_empty", "zip_sha256"): 1,
    }


def test_persons_are_the_live_contacts_deduplicated(built: Built) -> None:
    rows = built.rows("select hubspot_contact_id from marts.persons")
    expected = {c.contact_id for c in built.contacts if not c.archived}
    assert len(rows) == len(expected)
    assert {r["hubspot_contact_id"] for r in rows} == expected


def test_known_person_is_normalised_and_hashed(built: Built) -> None:
    (person,) = built.rows("select * from marts.persons where hubspot_contact_id = '900001'")
    assert person["person_id"] == hashlib.md5(b"hubspot:900001").hexdigest()
    assert person["email"] == "known@example.fr"  # latest version, trimmed and lower-cased
    assert person["phone_e164_digits"] == "33612345678"
    assert person["birth_date"] == dt.date(1987, 4, 12)
    assert person["age"] == 38
    assert person["gender"] == "m"
    assert person["country_code"] == "FR"
    assert person["has_marketing_consent"] is True

    (member,) = built.rows(
        "select * from marts.audience_members where audience_key = 'consenting_adults' and person_id = %s",
        person["person_id"],
    )
    assert member["extern_id"] == person["person_id"]
    assert member["email_sha256"] == hashlib.sha256(b"known@example.fr").hexdigest()
    assert member["phone_sha256"] == hashlib.sha256(b"33612345678").hexdigest()
    assert member["fn_sha256"] == hashlib.sha256("josé".encode()).hexdigest()
    assert member["ln_sha256"] == hashlib.sha256("müller".encode()).hexdigest()
    assert member["ct_sha256"] == hashlib.sha256(b"paris").hexdigest()
    assert member["zip_sha256"] == hashlib.sha256(b"75011").hexdigest()
    assert member["country_sha256"] == hashlib.sha256(b"fr").hexdigest()
    assert member["doby_sha256"] == hashlib.sha256(b"1987").hexdigest()
    assert member["gen_sha256"] == hashlib.sha256(b"m").hexdigest()


def test_every_person_matches_the_python_expectation(built: Built) -> None:
    by_id = {c.contact_id: c for c in built.contacts}
    rows = built.rows(
        "select hubspot_contact_id, email, phone_e164_digits, birth_date, is_birth_date_invalid, age, gender, "
        "country_code, zip from marts.persons"
    )
    mismatches = []
    for row in rows:
        c = by_id[row["hubspot_contact_id"]]
        expected = {
            "email": c.email,
            "phone_e164_digits": c.phone,
            "birth_date": c.birth_date,
            "is_birth_date_invalid": c.birth_date_invalid,
            "age": c.age,
            "gender": c.gender,
            "country_code": c.country,
            "zip": c.zip,
        }
        for key, value in expected.items():
            if row[key] != value:
                mismatches.append(f"{c.contact_id}.{key}: got {row[key]!r}, expected {value!r}")
    assert not mismatches, "\n".join(mismatches[:20])


def test_audience_holds_exactly_the_consenting_reachable_adults(built: Built) -> None:
    rows = built.rows(
        "select p.hubspot_contact_id, m.* from marts.audience_members m join marts.persons p using (person_id) "
        "where m.audience_key = 'consenting_adults'"
    )
    got = {r["hubspot_contact_id"] for r in rows}
    expected = {c.contact_id for c in built.contacts if c.is_member and not c.archived}
    assert got == expected
    for absent in ("900002", "900003", "900004", "900005", "900006", "900007", "900010"):
        assert absent not in got
    assert len(expected) > 100  # the planted mix still makes a syncable audience

    by_id = {c.contact_id: c for c in built.contacts}
    for row in rows:
        c = by_id[row["hubspot_contact_id"]]
        assert row["email_sha256"] == sha(c.email)
        assert row["phone_sha256"] == sha(c.phone)
        assert row["fn_sha256"] == sha(meta_letters(c.first_name))
        assert row["ln_sha256"] == sha(meta_letters(c.last_name))
        assert row["ct_sha256"] == sha(meta_letters(c.city))
        assert row["zip_sha256"] == sha(c.zip.lower() if c.zip else None)
        assert row["country_sha256"] == sha(c.country.lower() if c.country else None)
        assert row["doby_sha256"] == sha(str(c.birth_date.year))
        assert row["gen_sha256"] == sha(c.gender)
        for key in ("email_sha256", "phone_sha256", "fn_sha256", "zip_sha256", "gen_sha256"):
            assert row[key] is not None and row[key] != sha256_of_empty()

    (audience,) = built.rows("select * from marts.audiences where audience_key = 'consenting_adults'")
    assert audience["member_count"] == len(expected)
    assert audience["is_syncable"] is True
    assert audience["destinations"] == ["facebook"]


def sha256_of_empty() -> str:
    return hashlib.sha256(b"").hexdigest()


def test_age_bands(built: Built) -> None:
    rows = built.rows(
        "select p.hubspot_contact_id, s.age_band from marts.seg_age_band s join marts.persons p using (person_id) "
        "where p.hubspot_contact_id in ('900001', '900002', '900006', '900008')"
    )
    assert {r["hubspot_contact_id"]: r["age_band"] for r in rows} == {
        "900001": "35-44",
        "900002": "under_18",
        "900006": "unknown",
        "900008": "35-44",
    }
    (count,) = built.rows("select count(*) as n from marts.seg_age_band")
    (persons,) = built.rows("select count(*) as n from marts.persons")
    assert count["n"] == persons["n"]
