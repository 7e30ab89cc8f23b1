"""Build ``marts.audience_members`` (the contract's columns) for the sync tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import psycopg

from audience import normalize
from audience.destinations.facebook import MEMBER_COLUMNS
from audience.identity import FACEBOOK_SCHEMA, sha256_hex

COLUMNS = ("audience_key", "person_id", *MEMBER_COLUMNS)
AUDIENCE = "consenting_adults"


def reset(conn: psycopg.Connection) -> None:
    """Empty marts.audience_members and the sync ledger."""
    conn.execute("create schema if not exists marts")
    conn.execute("drop table if exists marts.audience_members")
    hashes = ", ".join(f"{c} text not null" for c in MEMBER_COLUMNS[1:])
    conn.execute(
        "create table marts.audience_members (audience_key text not null, person_id text not null, "
        f"extern_id text not null, {hashes}, primary key (audience_key, person_id))"
    )
    conn.execute("drop table if exists ops.sync_state")
    conn.execute("drop table if exists ops.sync_runs")
    conn.commit()


def insert(conn: psycopg.Connection, rows: Iterable[Sequence[str]], audience_key: str = AUDIENCE) -> int:
    """Insert member rows given in FACEBOOK_SCHEMA order (EXTERN_ID first = person_id)."""
    cols = ", ".join(COLUMNS)
    count = 0
    with conn.cursor() as cur, cur.copy(f"copy marts.audience_members ({cols}) from stdin") as copy:
        for row in rows:
            copy.write_row((audience_key, row[0], *row))
            count += 1
    conn.commit()
    return count


def delete(conn: psycopg.Connection, person_ids: Sequence[str], audience_key: str = AUDIENCE) -> int:
    deleted = conn.execute(
        "delete from marts.audience_members where audience_key = %s and person_id = any(%s)",
        (audience_key, list(person_ids)),
    ).rowcount
    conn.commit()
    return deleted


def table_rows(conn: psycopg.Connection, audience_key: str = AUDIENCE) -> set[tuple[str, ...]]:
    cols = ", ".join(MEMBER_COLUMNS)
    found = conn.execute(
        f"select {cols} from marts.audience_members where audience_key = %s", (audience_key,)
    )
    rows = {tuple(r) for r in found.fetchall()}
    conn.commit()
    return rows


def synthetic(n: int, start: int = 0, *, tag: str = "") -> list[list[str]]:
    """``n`` hashed member rows with ids p<start>..; ``tag`` changes the hashes (a changed person)."""
    out = []
    for i in range(start, start + n):
        out.append([f"p{i:07d}", *[sha256_hex(f"{key}{tag}-{i}") for key in FACEBOOK_SCHEMA[1:]]])
    return out


def from_world(world: Path, conn: psycopg.Connection) -> list[list[str]]:
    """The world's consenting, non-erased contacts as hashed rows (via `audience identity normalize`)."""
    lines = []
    with open(world / "hubspot_contacts.jsonl", encoding="utf-8") as handle:
        for line in handle:
            contact = json.loads(line)
            props = contact["properties"]
            if props.get("marketing_consent") != "true" or props.get("erasure_requested") == "true":
                continue
            fields = {
                "external_id": f"hs-{contact['id']}",
                "email": props.get("email"),
                "phone": props.get("phone"),
                "first_name": props.get("firstname"),
                "last_name": props.get("lastname"),
                "city": props.get("city"),
                "zip": props.get("zip"),
                "country": props.get("country"),
                "birth_date": props.get("date_of_birth"),
                "gender": props.get("gender"),
            }
            lines.append(json.dumps(fields))
    rows = normalize.normalize_lines(lines, "facebook", conn=conn, reasons=False, as_of="2026-11-01")
    return [[row[key] for key in FACEBOOK_SCHEMA] for row in rows]
