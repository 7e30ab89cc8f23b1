"""Identity resolution end to end: `dbt build` of the person models on a fresh database loaded with a
handful of hand-written HubSpot, Salesforce (Contact, Lead) and file-drop records.

Each planted group says what it proves: email case and spaces, national against international
phones, chains across sources, HubSpot duplicates anchored on the lowest id, a person known only
outside HubSpot, a junk email held by too many records, a deleted and an archived record, consent as
the latest signal of any source, and erasure from any record winning.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from audience import warehouse

pytestmark = pytest.mark.dbt

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
AS_OF = dt.date(2026, 11, 1)
RAW_COLUMNS = ["_batch_id", "_loaded_at", "_record_id", "_updated_at", "payload"]
LOADED = dt.datetime(2026, 10, 30, 3, 0, tzinfo=dt.UTC)
JUNK_EMAIL = "info@example.fr"  # held by 6 records: over the default cap of 5, so it links nobody


def ts(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def hubspot(
    contact_id: str,
    *,
    email: str = "",
    phone: str = "",
    updated: str = "2025-01-01",
    consent: bool = True,
    erasure: bool = False,
    archived: bool = False,
    birth: str = "1980-05-05",
) -> tuple[Any, ...]:
    stamp = ts(updated).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    payload = {
        "id": contact_id,
        "properties": {
            "email": email,
            "phone": phone,
            "firstname": "Test",
            "lastname": f"Person{contact_id}",
            "date_of_birth": birth,
            "country": "FR",
            "zip": "75011",
            "city": "Paris",
            "marketing_consent": "true" if consent else "false",
            "erasure_requested": "true" if erasure else "false",
        },
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": stamp,
        "archived": archived,
    }
    return "hs-1", LOADED, contact_id, ts(updated), payload


def salesforce(
    record_id: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    country: str = "FR",
    modified: str = "2025-01-01",
    opted_out: bool = False,
    deleted: bool = False,
    created: str = "2024-01-01",
    batch: str = "sf-1",
) -> tuple[Any, ...]:
    sf_modified = ts(modified).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    payload = {
        "Id": record_id,
        "FirstName": "Test",
        "LastName": "Person",
        "Email": email,
        "Phone": phone,
        "HasOptedOutOfEmail": opted_out,
        "IsDeleted": deleted,
        "CreatedDate": ts(created).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "LastModifiedDate": sf_modified,
        "SystemModstamp": sf_modified,
    }
    if record_id.startswith("003"):
        payload.update({"MailingCountry": country, "Birthdate": "1980-05-05"})
    else:
        payload.update({"Country": country, "Company": "Person (individual)", "IsConverted": False})
    return batch, LOADED, record_id, ts(modified), payload


def file_row(
    customer_id: str,
    *,
    email: str = "",
    phone: str = "",
    country: str = "FR",
    updated: str,
    opt_in: str = "1",
) -> tuple[Any, ...]:
    payload = {
        "customer_id": customer_id,
        "email": email,
        "phone": phone,
        "first_name": "Test",
        "last_name": "Person",
        "birth_date": "",
        "postal_code": "75011",
        "city": "Paris",
        "country": country,
        "newsletter_opt_in": opt_in,
        "updated_at": f"{updated}T00:00:00Z",
        "_file": "contacts_20261024.csv",
        "_line": 2,
    }
    return "files-1", LOADED, customer_id, ts(updated), payload


# Salesforce ids (18 characters, as the loader checks)
SF_A = "0035g0000000001AAA"
SF_C = "0035g0000000003AAA"
SF_D = "0035g0000000004AAA"
SF_E = "0035g0000000005AAA"
LEAD_B = "00Q5g0000000002AAA"

HUBSPOT = [
    # A: HubSpot + Salesforce Contact (same email, other case) + file (same phone, national form)
    hubspot("500001", email="  Marie.Curie@Example.FR ", phone="06 11 22 33 44", updated="2025-01-01"),
    # B: HubSpot -email- Lead -phone (Belgian, two forms)- file
    hubspot("500002", email="paul@example.fr", updated="2025-01-01"),
    # junk: two HubSpot records holding the junk email; 500003 shares a phone with file J1
    hubspot("500003", email=JUNK_EMAIL, phone="+33 6 99 99 99 99"),
    hubspot("500004", email=JUNK_EMAIL),
    # E: erasure requested in HubSpot; a newer Salesforce Contact says nothing of it
    hubspot("500005", email="erase.me@example.fr", erasure=True, updated="2024-06-01"),
    # duplicates in HubSpot: 400 is the lower id (though '3000' < '400' as text)
    hubspot("3000", email="LOW@example.fr"),
    hubspot("400", email="low@example.fr "),
    # archived HubSpot contact: gone; the file record of the same email lives on alone
    hubspot("500008", email="archived@example.fr", archived=True),
    # alone, nothing to match on
    hubspot("500009"),
]
SALESFORCE_CONTACTS = [
    salesforce(SF_A, email="MARIE.CURIE@example.fr", phone="+33611223344", modified="2025-03-01"),
    # the latest version of A: opted out (the latest consent signal of person A)
    salesforce(
        SF_A,
        email="MARIE.CURIE@example.fr",
        phone="+33611223344",
        modified="2026-06-01",
        opted_out=True,
        batch="sf-2",
    ),
    # C: only in Salesforce and the files, the Contact is the older record
    salesforce(SF_C, email="solo@example.fr", created="2024-01-01", modified="2024-02-01"),
    # deleted: would have joined B
    salesforce(SF_D, email="paul@example.fr", deleted=True),
    salesforce(SF_E, email="Erase.Me@example.fr", modified="2026-01-01"),
]
SALESFORCE_LEADS = [
    salesforce(
        LEAD_B, email=" Paul@Example.fr", phone="+32 470 12 34 56", country="Belgique", modified="2025-05-01"
    ),
]
FILES = [
    file_row("F1", email="marie.c@other.example", phone="06 11 22 33 44", updated="2026-03-01", opt_in="1"),
    file_row("F2", phone="0032470123456", country="BE", updated="2026-10-24", opt_in="1"),
    file_row("F3", email="Solo@Example.fr", updated="2026-10-24", opt_in="0"),
    file_row("J1", email=JUNK_EMAIL, phone="0699999999", updated="2026-10-24"),
    file_row("J2", email=JUNK_EMAIL, updated="2026-10-24"),
    file_row("J3", email=JUNK_EMAIL, updated="2026-10-24"),
    file_row("J4", email=JUNK_EMAIL, updated="2026-10-24"),
    file_row("F8", email="ARCHIVED@example.fr", updated="2026-10-24"),
]

# the expected persons: anchor record -> every record of the person
EXPECTED = {
    ("hubspot", "500001"): {("hubspot", "500001"), ("salesforce_contact", SF_A), ("files", "F1")},
    ("hubspot", "500002"): {("hubspot", "500002"), ("salesforce_lead", LEAD_B), ("files", "F2")},
    ("hubspot", "500003"): {("hubspot", "500003"), ("files", "J1")},
    ("hubspot", "500004"): {("hubspot", "500004")},
    ("files", "J2"): {("files", "J2")},
    ("files", "J3"): {("files", "J3")},
    ("files", "J4"): {("files", "J4")},
    ("hubspot", "500005"): {("hubspot", "500005"), ("salesforce_contact", SF_E)},
    ("hubspot", "400"): {("hubspot", "400"), ("hubspot", "3000")},
    ("files", "F8"): {("files", "F8")},
    ("hubspot", "500009"): {("hubspot", "500009")},
    ("salesforce_contact", SF_C): {("salesforce_contact", SF_C), ("files", "F3")},
}


def person_id(source: str, source_id: str) -> str:
    return hashlib.md5(f"{source}:{source_id}".encode()).hexdigest()


@dataclasses.dataclass
class Built:
    conn: psycopg.Connection

    def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, args).fetchall()

    def person(self, anchor: tuple[str, str]) -> dict[str, Any]:
        (row,) = self.rows("select * from marts.persons where person_id = %s", person_id(*anchor))
        return row


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - heavy import, only for this module

    params = warehouse.params()
    dbname = f"audience_test_identity_{os.getpid()}"
    test_params = dataclasses.replace(params, dbname=dbname)
    with psycopg.connect(**params.libpq("postgres"), autocommit=True) as admin:
        admin.execute(f'drop database if exists "{dbname}" with (force)')
        admin.execute(f'create database "{dbname}"')
    try:
        with psycopg.connect(**test_params.libpq()) as conn:
            warehouse.ensure_schemas(conn)
            for table, rows in (
                ("raw.hubspot__contacts", HUBSPOT),
                ("raw.salesforce__contacts", SALESFORCE_CONTACTS),
                ("raw.salesforce__leads", SALESFORCE_LEADS),
                ("raw.files__contacts", FILES),
            ):
                warehouse.copy_rows(conn, table, RAW_COLUMNS, rows)
            conn.commit()

        work = tmp_path_factory.mktemp("dbt_identity")
        with pytest.MonkeyPatch.context() as mp:
            for key, value in test_params.env().items():
                mp.setenv(key, value)
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
                    "--select",
                    "+person_source_ids",
                    "+audience_members",
                    # models and seeds only: the data and unit tests run in test_dbt_build's full build
                    "--resource-type",
                    "model",
                    "--resource-type",
                    "seed",
                    "--vars",
                    json.dumps({"as_of_date": AS_OF.isoformat()}),
                ]
            )
        failed = [
            f"{r.node.unique_id}: {r.status} {r.message or ''}"
            for r in (result.result or [])
            if str(r.status) in {"error", "fail", "runtime error"}
        ]
        assert result.success, f"dbt build failed: {result.exception or failed}"
        with psycopg.connect(**test_params.libpq()) as conn:
            yield Built(conn)
    finally:
        with psycopg.connect(**params.libpq("postgres"), autocommit=True) as admin:
            admin.execute(f'drop database if exists "{dbname}" with (force)')


def test_records_are_grouped_into_exactly_the_expected_persons(built: Built) -> None:
    got: dict[str, set[tuple[str, str]]] = {}
    for row in built.rows("select source, source_id, person_id from marts.person_source_ids"):
        got.setdefault(row["person_id"], set()).add((row["source"], row["source_id"]))
    expected = {person_id(*anchor): records for anchor, records in EXPECTED.items()}
    assert got == expected
    persons = {r["person_id"] for r in built.rows("select person_id from marts.persons")}
    assert persons == set(expected)


def test_each_person_has_one_anchor_and_its_source_ids(built: Built) -> None:
    anchors = built.rows("select source, source_id from marts.person_source_ids where is_anchor")
    assert {(r["source"], r["source_id"]) for r in anchors} == set(EXPECTED)

    a = built.person(("hubspot", "500001"))
    assert (a["hubspot_contact_id"], a["salesforce_contact_id"], a["file_customer_id"]) == (
        "500001",
        SF_A,
        "F1",
    )
    assert a["salesforce_lead_id"] is None
    assert (a["source_count"], a["source_record_count"]) == (3, 3)
    assert built.person(("hubspot", "400"))["hubspot_contact_id"] == "400"
    c = built.person(("salesforce_contact", SF_C))
    assert c["hubspot_contact_id"] is None and c["file_customer_id"] == "F3"
    assert built.person(("files", "F8"))["hubspot_contact_id"] is None  # the archived contact is gone


def test_survivorship_takes_the_most_recent_value(built: Built) -> None:
    a = built.person(("hubspot", "500001"))
    assert a["email"] == "marie.curie@example.fr"  # Salesforce (2026-06) is newer than the file (2026-03)
    assert a["phone_e164_digits"] == "33611223344"
    b = built.person(("hubspot", "500002"))
    assert b["email"] == "paul@example.fr"
    assert b["phone_e164_digits"] == "32470123456"  # from the Lead and the file, typed two ways
    assert b["country_code"] == "BE"  # the file, B's latest record


def test_consent_is_the_latest_signal_of_any_source(built: Built) -> None:
    a = built.person(("hubspot", "500001"))
    # HubSpot yes (2025-01), file yes (2026-03), Salesforce opted out (2026-06): no
    assert (a["has_marketing_consent"], a["consent_source"]) == (False, "salesforce_contact")
    assert a["consent_updated_at"] == ts("2026-06-01")
    b = built.person(("hubspot", "500002"))
    assert (b["has_marketing_consent"], b["consent_source"]) == (True, "files")
    c = built.person(("salesforce_contact", SF_C))
    assert (c["has_marketing_consent"], c["consent_source"]) == (False, "files")


def test_erasure_from_any_record_wins_and_keeps_people_out_of_audiences(built: Built) -> None:
    e = built.person(("hubspot", "500005"))
    assert e["is_erasure_requested"] is True
    assert e["has_marketing_consent"] is True  # the newer Salesforce record did not opt out
    members = {r["person_id"] for r in built.rows("select person_id from marts.audience_members")}
    assert person_id("hubspot", "500005") not in members
    assert person_id("hubspot", "500001") not in members  # consent withdrawn in Salesforce
    assert person_id("hubspot", "500002") in members  # consent by the file, the latest signal


def test_the_normalize_tool_gives_the_warehouse_digests(built: Built) -> None:
    """One implementation: `audience identity normalize` and int_persons__hashed run the same macros.

    Each person's merged values (marts.persons) fed to the tool as contact fields give exactly the
    digests the warehouse computed; so do the raw fields of the persons made of one HubSpot record.
    """
    from audience import normalize  # noqa: PLC0415

    keys = ["EXTERN_ID", "EMAIL", "PHONE", "FN", "LN", "CT", "ZIP", "COUNTRY", "DOBY", "GEN"]
    columns = ["extern_id", *[f"{k.lower()}_sha256" for k in keys[1:]]]
    warehouse_rows = {
        r["person_id"]: [r[c] for c in columns]
        for r in built.rows(f"select person_id, {', '.join(columns)} from intermediate.int_persons__hashed")
    }
    persons = built.rows("select * from marts.persons order by person_id")
    assert len(persons) == len(EXPECTED) == len(warehouse_rows)
    merged = [
        {
            "external_id": p["person_id"],
            "email": p["email"],
            "phone": f"+{p['phone_e164_digits']}" if p["phone_e164_digits"] else None,
            "first_name": p["first_name"],
            "last_name": p["last_name"],
            "city": p["city"],
            "zip": p["zip"],
            "country": p["country_code"],
            "birth_date": p["birth_date"].isoformat() if p["birth_date"] else None,
            "gender": p["gender"],
        }
        for p in persons
    ]
    single = {person_id("hubspot", c[2]): c[4]["properties"] for c in HUBSPOT}
    single = {pid: props for pid, props in single.items() if pid in warehouse_rows}
    alone = [pid for pid, records in EXPECTED.items() if len(records) == 1 and pid[0] == "hubspot"]
    raw = [
        {
            "external_id": person_id(*anchor),
            "email": single[person_id(*anchor)]["email"],
            "phone": single[person_id(*anchor)]["phone"],
            "first_name": single[person_id(*anchor)]["firstname"],
            "last_name": single[person_id(*anchor)]["lastname"],
            "city": single[person_id(*anchor)]["city"],
            "zip": single[person_id(*anchor)]["zip"],
            "country": single[person_id(*anchor)]["country"],
            "birth_date": single[person_id(*anchor)]["date_of_birth"],
        }
        for anchor in alone
    ]
    assert len(raw) >= 2
    lines = [json.dumps(o) for o in merged + raw]
    out = list(normalize.normalize_lines(lines, "facebook", conn=built.conn, as_of=AS_OF.isoformat()))
    tool_rows = [[o[k] for k in keys] for o in out]
    for fields, row in zip(merged + raw, tool_rows, strict=True):
        assert row == warehouse_rows[fields["external_id"]], fields["external_id"]
    # not vacuous: the persons have hashed emails, phones, names, places and birth years
    for position in range(1, len(keys) - 1):
        assert any(row[position] for row in tool_rows), keys[position]
