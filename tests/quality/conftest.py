"""A throwaway database with marts.persons and marts.audience_members, clean by default.

The database lives on the configured warehouse server (AIRFLOW_CONN_WAREHOUSE, else the
embedded one), is named ``test_quality_<random>`` and is dropped at the end of the session.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from audience import warehouse
from audience.identity import FACEBOOK_MEMBER_COLUMNS
from audience.warehouse import WarehouseParams

PERSON_COLUMNS = (
    "person_id",
    "hubspot_contact_id",
    "email",
    "phone_e164_digits",
    "first_name",
    "last_name",
    "birth_date",
    "age",
    "gender",
    "zip",
    "city",
    "country_code",
    "language",
    "has_marketing_consent",
    "is_erasure_requested",
    "updated_at",
)
MEMBER_COLUMNS = ("audience_key", "person_id", *FACEBOOK_MEMBER_COLUMNS)

DDL = """
drop schema if exists marts cascade;
create schema marts;
create table marts.persons (
    person_id text primary key,
    hubspot_contact_id text,
    email text,
    phone_e164_digits text,
    first_name text,
    last_name text,
    birth_date date,
    age integer,
    gender text,
    zip text,
    city text,
    country_code text,
    language text,
    has_marketing_consent boolean,
    is_erasure_requested boolean,
    updated_at timestamptz
);
create table marts.audience_members (
    audience_key text,
    person_id text,
    extern_id text,
    email_sha256 text,
    phone_sha256 text,
    fn_sha256 text,
    ln_sha256 text,
    ct_sha256 text,
    zip_sha256 text,
    country_sha256 text,
    doby_sha256 text,
    gen_sha256 text
);
"""

# Recognisable fake PII: tests assert none of it leaks into results, rows, messages or docs.
FAKE_EMAIL_DOMAIN = "pii-canary.example"
FAKE_PHONE_PREFIX = "3361999"
FAKE_LAST_NAME = "Canarýsson"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest() if value else ""


def _person(i: int, *, consent: bool = True, erasure: bool = False, age: int | None = 34) -> tuple:
    birth_year = 2026 - age if age is not None else None
    return (
        f"p{i:04d}",
        str(1000 + i),
        f"person{i}@{FAKE_EMAIL_DOMAIN}",
        f"{FAKE_PHONE_PREFIX}{i:04d}",
        "Hélène" if i % 2 else "José",
        FAKE_LAST_NAME,
        f"{birth_year}-04-12" if birth_year else None,
        age,
        "f" if i % 2 else "m",
        "75011",
        "paris",
        "FR",
        "fr",
        consent,
        erasure,
        "2026-01-01T00:00:00Z",
    )


def _member(person: tuple) -> tuple:
    (pid, _, email, phone, first, last, birth, _age, gender, zip_, city, country, *_rest) = person
    return (
        "consenting_adults",
        pid,
        pid,
        sha(email),
        sha(phone),
        sha(first.lower()),
        sha(last.lower()),
        sha(city),
        sha(zip_),
        sha(country.lower()),
        sha(birth[:4]) if birth else "",
        sha(gender),
    )


def clean_rows() -> tuple[list[tuple], list[tuple]]:
    """12 eligible members, plus people who must stay out (minor, no consent, erasure)."""
    members = [_person(i) for i in range(1, 13)]
    others = [
        _person(13, age=16),
        _person(14, consent=False),
        _person(15, erasure=True),
        _person(16, age=None),
    ]
    return members + others, [_member(p) for p in members]


def load(params: WarehouseParams, persons: list[tuple], members: list[tuple]) -> None:
    with psycopg.connect(**params.libpq()) as conn:
        conn.execute(DDL)
        warehouse.copy_rows(conn, "marts.persons", PERSON_COLUMNS, persons)
        warehouse.copy_rows(conn, "marts.audience_members", MEMBER_COLUMNS, members)
        conn.commit()


def execute(params: WarehouseParams, sql: str, args: tuple = ()) -> list[tuple]:
    with psycopg.connect(**params.libpq(), autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="session")
def quality_db() -> Iterator[WarehouseParams]:
    base = warehouse.params()
    name = f"test_quality_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**base.libpq("postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield dataclasses.replace(base, dbname=name)
    finally:
        with psycopg.connect(**base.libpq("postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def clean_db(quality_db: WarehouseParams) -> WarehouseParams:
    """The test database with clean marts (rebuilt for every test)."""
    persons, members = clean_rows()
    load(quality_db, persons, members)
    return quality_db


@pytest.fixture(scope="session", autouse=True)
def _drop_built_warehouse() -> Iterator[None]:
    """Drop the built warehouse (tests/quality/built.py) at the end of the session, if one was made."""
    from . import built

    yield
    built.drop()
