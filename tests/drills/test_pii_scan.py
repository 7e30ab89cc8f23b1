"""The PII scanner used after the end-to-end run (tests/e2e/test_pipeline.py) finds what it must."""

from __future__ import annotations

import hashlib
import json

import pytest

from drills.pii_scan import findings, planted_from_world, scan_files, scan_sqlite

pytestmark = pytest.mark.drills


def test_planted_values_are_found_in_any_form_and_hashes_are_not(sandbox_world, tmp_path):
    planted = planted_from_world(sandbox_world)
    assert len(planted.emails) > 1000 and len(planted.phones) > 500 and len(planted.names) > 1000
    contact = next(
        c["properties"]
        for c in map(json.loads, open(sandbox_world / "hubspot_contacts.jsonl"))
        if c["properties"].get("phone") and c["properties"].get("email")
    )
    email, phone = contact["email"], contact["phone"]
    name = f"{contact['firstname']} {contact['lastname']}"
    digits = "".join(ch for ch in phone if ch.isdigit())
    assert f"email {email.upper()[:2]}***" in findings(f"task failed for {email.upper()}!", planted)
    assert findings(f"phone={digits};", planted)
    assert findings(f"'{phone}'", planted)
    assert findings(f"Hello {name.upper()}, welcome", planted)
    hashed = " ".join(hashlib.sha256(v.encode()).hexdigest() for v in (email, digits, name))
    assert findings(f"{hashed} 2026-11-01T00:00:00Z rows=1500 batch hubspot-contacts-20261101", planted) == []

    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "task.log").write_text(f"INFO loaded\nERROR bad row {email}\n")
    assert list(scan_files([tmp_path / "logs"], planted)) == [str(tmp_path / "logs" / "task.log")]
    import sqlite3

    with sqlite3.connect(tmp_path / "meta.db") as db:
        db.execute("create table xcom (key text, value blob)")
        db.execute("insert into xcom values ('return_value', ?)", (json.dumps({"who": name}).encode(),))
    assert list(scan_sqlite(tmp_path / "meta.db", planted)) == [f"{tmp_path / 'meta.db'}:xcom"]
