"""Find raw personal data (emails, phone numbers, full names) of a synthetic world in text the platform
writes outside the warehouse: logs, Airflow's metadata (XComs), reports, dbt's files, GX Data Docs,
and the ``ops`` tables and reject reasons meant for people to read.

The planted values are every contact of the world (HubSpot, Salesforce contacts and leads, the CRM
file drop) and every Facebook comment author: emails (case-insensitive), phones as written and as
digits only (8 digits or more, the E.164 form too), and full names ("first last", case-insensitive).
Text is tokenised once (email-like tokens, digit runs, word n-grams), so scanning is linear in its size.
Hashes of these values are fine and are not looked for.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
PHONEISH = re.compile(r"\+?[\d(][\d\s().-]{6,24}\d")
WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
MAX_NAME_WORDS = 4


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _name_key(text: str) -> str:
    return " ".join(w.lower() for w in WORD.findall(text))


@dataclass
class Planted:
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # digits only
    names: set[str] = field(default_factory=set)  # lower-case words joined by one space

    def add(
        self, email: object = None, phone: object = None, first: object = None, last: object = None
    ) -> None:
        if isinstance(email, str) and "@" in email:
            self.emails.add(email.strip().lower())
        if isinstance(phone, str | int) and len(_digits(str(phone))) >= 8:
            digits = _digits(str(phone))
            self.phones.add(digits)
            if digits.startswith("00"):
                self.phones.add(digits[2:])
        if isinstance(first, str) and isinstance(last, str) and first.strip() and last.strip():
            key = _name_key(f"{first} {last}")
            if 2 <= len(key.split()) <= MAX_NAME_WORDS:
                self.names.add(key)

    def without_values_in(self, text: str) -> Planted:
        """These values less those written in ``text`` (the project's own sources: a dbt unit test's
        hand-written "Léa Petit" is not the world's Léa Petit leaking)."""
        emails = {m.lower() for m in EMAIL.findall(text)}
        phones = {_digits(m) for m in PHONEISH.findall(text)}
        words = [w.lower() for w in WORD.findall(text)]
        names = {" ".join(words[i : i + n]) for i in range(len(words)) for n in range(2, MAX_NAME_WORDS + 1)}
        return Planted(self.emails - emails, self.phones - phones, self.names - names)

    def __len__(self) -> int:
        return len(self.emails) + len(self.phones) + len(self.names)


def _jsonl(path: Path) -> Iterator[dict]:
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def planted_from_world(world: Path) -> Planted:
    found = Planted()
    for contact in _jsonl(world / "hubspot_contacts.jsonl"):
        p = contact.get("properties") or {}
        found.add(p.get("email"), p.get("phone"), p.get("firstname"), p.get("lastname"))
    for name in ("salesforce_contacts.jsonl", "salesforce_leads.jsonl"):
        for rec in _jsonl(world / name):
            found.add(rec.get("Email"), rec.get("Phone"), rec.get("FirstName"), rec.get("LastName"))
    for truth in _jsonl(world / "truth.jsonl"):
        found.add(phone=truth.get("phone_e164_digits"))
    for path in sorted((world / "crm_drop").glob("contacts_*.csv")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
        for row in csv.DictReader(text.splitlines(), delimiter=delimiter):
            found.add(row.get("email"), row.get("phone"), row.get("first_name"), row.get("last_name"))
    for comment in _jsonl(world / "social" / "facebook_comments.jsonl"):
        author = (comment.get("comment") or {}).get("from") or {}
        parts = str(author.get("name") or "").split(" ", 1)
        if len(parts) == 2:
            found.add(first=parts[0], last=parts[1])
    return found


def findings(text: str, planted: Planted) -> list[str]:
    """What of ``planted`` appears in ``text``: 'email', 'phone', 'name' with a masked hint."""
    out = []
    for match in EMAIL.findall(text):
        if match.lower() in planted.emails:
            out.append(f"email {match[:2]}***")
    for match in PHONEISH.findall(text):
        digits = _digits(match)
        if digits in planted.phones or (digits.startswith("00") and digits[2:] in planted.phones):
            out.append(f"phone ***{digits[-2:]}")
    words = [w.lower() for w in WORD.findall(text)]
    for i in range(len(words)):
        for n in range(2, MAX_NAME_WORDS + 1):
            if i + n <= len(words) and " ".join(words[i : i + n]) in planted.names:
                out.append(f"name {words[i][:1]}*** {words[i + n - 1][:1]}***")
    return out


def scan_files(paths: Iterable[Path], planted: Planted, *, skip: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every text file under ``paths`` (binary files are read as UTF-8 with replacement)."""
    skip = tuple(skip)
    hits: dict[str, list[str]] = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if any(part in skip for part in path.parts) or path.suffix in {".db", ".npz", ".parquet"}:
                continue
            found = findings(path.read_bytes().decode("utf-8", "replace"), planted)
            if found:
                hits[str(path)] = found
    return hits


def scan_sqlite(path: Path, planted: Planted) -> dict[str, list[str]]:
    """Every text value of every table of a SQLite database (Airflow's metadata: XComs, task logs...)."""
    hits: dict[str, list[str]] = {}
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            texts = []
            for row in db.execute(f'select * from "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if isinstance(value, str):
                        texts.append(value)
            found = findings("\n".join(texts), planted)
            if found:
                hits[f"{path}:{table}"] = found
    return hits


def scan_warehouse(conn, planted: Planted) -> dict[str, list[str]]:
    """The ops tables (run records, sync runs, validation results, watermarks) and reject reasons."""
    hits: dict[str, list[str]] = {}
    tables = [
        r[0]
        for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'ops' order by 1"
        ).fetchall()
    ]
    queries = {f"ops.{t}": f'select t::text from ops."{t}" t' for t in tables}
    queries["raw.rejects.reason"] = "select reason from raw.rejects"
    for name, sql in queries.items():
        text = "\n".join(r[0] or "" for r in conn.execute(sql).fetchall())
        found = findings(text, planted)
        if found:
            hits[name] = found
    return hits
