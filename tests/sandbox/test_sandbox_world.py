"""The synthetic world: reproducible, realistic where the pipeline must cope, truth kept apart."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sandbox import communes
from sandbox.world import VERSION, generate

PROPERTIES = {
    "email",
    "phone",
    "firstname",
    "lastname",
    "date_of_birth",
    "gender",
    "zip",
    "city",
    "country",
    "hs_language",
    "lifecyclestage",
    "marketing_consent",
    "erasure_requested",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
}
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("world-4k")
    generate(path, contacts=4_000, events_per_contact=4, seed=3)
    return path


@pytest.fixture(scope="module")
def contacts(world: Path) -> list[dict]:
    return _lines(world / "hubspot_contacts.jsonl")


@pytest.fixture(scope="module")
def truth(world: Path) -> dict[str, dict]:
    return {t["contact_id"]: t for t in _lines(world / "truth.jsonl")}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", contacts=600, events_per_contact=2, seed=5)
    generate(tmp_path / "b", contacts=600, events_per_contact=2, seed=5)
    generate(tmp_path / "c", contacts=600, events_per_contact=2, seed=6)
    a, b, c = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert a == b
    assert a["hubspot_contacts.jsonl"] != c["hubspot_contacts.jsonl"]
    assert first["contacts"] == 600 and first["events"] > 0


def test_regenerating_into_the_same_folder_replaces_the_old_world(tmp_path: Path) -> None:
    generate(tmp_path, contacts=300, events_per_contact=3, seed=1)
    generate(tmp_path, contacts=50, events_per_contact=0, seed=1)
    assert len((tmp_path / "hubspot_contacts.jsonl").read_text().splitlines()) == 50
    assert not list((tmp_path / "web_events").glob("dt=*/events.jsonl"))
    assert json.loads((tmp_path / "world.json").read_text())["contacts"] == 50


def test_world_json_has_the_contract_fields(world: Path) -> None:
    meta = json.loads((world / "world.json").read_text())
    assert {"seed", "contacts", "events_per_contact", "generated_at", "version"} <= set(meta)
    assert (meta["seed"], meta["contacts"], meta["events_per_contact"], meta["version"]) == (
        3,
        4_000,
        4,
        VERSION,
    )
    assert ISO_MS.fullmatch(meta["generated_at"])


def test_contacts_have_hubspot_shape(contacts: list[dict]) -> None:
    assert len(contacts) == 4_000
    ids = [c["id"] for c in contacts]
    assert len(set(ids)) == len(ids) and all(i.isdigit() for i in ids)
    for c in contacts[:200]:
        assert set(c) == {"id", "properties", "createdAt", "updatedAt", "archived"}
        assert c["archived"] is False
        props = c["properties"]
        assert set(props) == PROPERTIES
        assert all(v is None or isinstance(v, str) for v in props.values())
        assert props["hs_object_id"] == c["id"]
        assert props["lastmodifieddate"] == c["updatedAt"] and props["createdate"] == c["createdAt"]
        assert ISO_MS.fullmatch(c["createdAt"]) and ISO_MS.fullmatch(c["updatedAt"])
        assert c["createdAt"] <= c["updatedAt"]
    # imports give runs of contacts one shared lastmodifieddate: clients must page through ties
    ties = Counter(c["updatedAt"] for c in contacts)
    assert 20 <= max(ties.values()) <= 250


def test_messy_values_real_crms_hold(contacts: list[dict]) -> None:
    props = [c["properties"] for c in contacts]
    phones = [p["phone"] for p in props if p["phone"]]
    assert any(re.fullmatch(r"0[67]( \d\d){4}", x) for x in phones)
    assert any(re.fullmatch(r"\+33 [67]( \d\d){4}", x) for x in phones)
    assert any(re.fullmatch(r"0033[67]\d{8}", x) for x in phones)
    assert any(re.fullmatch(r"\(0\)[67](-\d\d){4}", x) for x in phones)
    assert any(p["phone"] in (None, "") for p in props)
    dobs = [p["date_of_birth"] for p in props]
    kinds = Counter(
        "empty"
        if not d
        else "iso"
        if re.fullmatch(r"\d{4}-\d\d-\d\d", d)
        else "impossible"
        if re.fullmatch(r"3[01]/02/\d{4}", d)
        else "slash"
        if re.fullmatch(r"\d\d/\d\d/\d{4}", d)
        else "dots"
        if re.fullmatch(r"\d\d\.\d\d\.\d\d", d)
        else "year"
        if re.fullmatch(r"\d{4}", d)
        else "serial"
        if re.fullmatch(r"\d{5}", d)
        else "other"
        for d in dobs
    )
    assert {"iso", "slash", "dots", "year", "serial", "empty", "impossible"} <= set(kinds)
    assert kinds["other"] == 0
    assert {"M", "F", "male", "female", "Femme", "Homme", ""} <= {p["gender"] for p in props}
    emails = [p["email"] for p in props if p["email"]]
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() != e.strip().lower() for e in emails)
    assert all(e.strip().lower().endswith(".example") for e in emails)  # never a deliverable address
    assert len({e.strip().lower() for e in emails}) == len(emails)
    countries = Counter(p["country"] for p in props)
    assert {"FR", "France", "fr"} <= set(countries)
    assert any(v in countries for v in ("Belgique", "Germany", "Deutschland", "España"))
    names = " ".join(p["firstname"] or "" for p in props) + " ".join(p["lastname"] or "" for p in props)
    assert re.search(r"[éèëöüçñãí]", names)


def test_shares_of_consent_erasure_minors_and_countries(contacts: list[dict], truth: dict[str, dict]) -> None:
    n = len(contacts)
    consent = sum(c["properties"]["marketing_consent"] == "true" for c in contacts) / n
    erasure = sum(c["properties"]["erasure_requested"] == "true" for c in contacts) / n
    minors = sum(t["age"] < 18 for t in truth.values()) / n
    french = sum(t["country_code"] == "FR" for t in truth.values()) / n
    assert 0.82 <= consent <= 0.88
    assert 0.01 <= erasure <= 0.035
    assert 0.06 <= minors <= 0.10
    assert 0.66 <= french <= 0.74
    assert {c["properties"]["marketing_consent"] for c in contacts} == {"true", "false"}


def test_surnames_have_a_long_tail_so_names_identify_people(contacts: list[dict]) -> None:
    # the common surnames alone gave 18,269 distinct full names for 100,000 contacts, so a
    # commenter's display name almost never named one person; half now come from the tail
    from sandbox import locales

    tail = locales.surname_tail("FR")
    assert len(tail) == len(set(tail)) == 1 << locales.SURNAME_TAIL_BITS
    assert all(re.fullmatch(r"[A-Z][a-z]+", name) for name in tail)
    assert tail == locales.surname_tail("BE") != locales.surname_tail("DE")
    tails = {name for c in locales.COUNTRY_WEIGHTS for name in locales.surname_tail(c)}
    surnames = [
        locales.fold(c["properties"]["lastname"]).capitalize()
        for c in contacts
        if c["properties"].get("lastname")
    ]
    from_tail = sum(name in tails for name in surnames) / len(surnames)
    assert 0.4 <= from_tail <= 0.6
    full = Counter(
        (locales.fold(c["properties"]["firstname"]), locales.fold(c["properties"]["lastname"]))
        for c in contacts
        if c["properties"].get("firstname") and c["properties"].get("lastname")
    )
    unique = sum(1 for n in full.values() if n == 1) / sum(full.values())
    assert unique > 0.5  # 4,000 contacts: most full names name one person


def test_french_postal_codes_match_their_city(contacts: list[dict], truth: dict[str, dict]) -> None:
    known = {(r.postal_code, r.city.casefold()) for r in communes.load()}
    checked = 0
    for c in contacts:
        p = c["properties"]
        if truth[c["id"]]["country_code"] != "FR" or not p["zip"] or not p["city"] or len(p["zip"]) != 5:
            continue
        assert (p["zip"], p["city"].casefold()) in known
        checked += 1
    assert checked > 2_000


def test_truth_is_kept_apart_and_consistent(
    world: Path, contacts: list[dict], truth: dict[str, dict]
) -> None:
    assert set(truth) == {c["id"] for c in contacts}
    raw = (world / "hubspot_contacts.jsonl").read_text()
    for word in ("persona", "interest_cluster", "purchase_intent"):
        assert word not in raw
    one = next(iter(truth.values()))
    assert {"contact_id", "persona", "interest_cluster", "purchase_intent", "age"} <= set(one)
    personas = Counter(t["persona"] for t in truth.values())
    assert set(personas) == {
        "eco_urban_young",
        "family_suburban",
        "premium_senior",
        "bargain_student",
        "tech_professional",
    }
    assert all(0 <= t["purchase_intent"] <= 1 for t in truth.values())
    # planted structure: seniors are older than students
    age = {k: [t["age"] for t in truth.values() if t["persona"] == k] for k in personas}
    assert min(age["premium_senior"]) > max(age["bargain_student"])
    # an ISO date of birth in the CRM is the true one
    for c in contacts:
        dob = c["properties"]["date_of_birth"]
        if dob and re.fullmatch(r"\d{4}-\d\d-\d\d", dob):
            assert dob == truth[c["id"]]["birth_date"]


def test_web_events_follow_intent(world: Path, truth: dict[str, dict]) -> None:
    parts = sorted((world / "web_events").glob("dt=*/events.jsonl"))
    assert 30 <= len(parts) <= 90
    per_intent: dict[bool, Counter] = {True: Counter(), False: Counter()}
    anon_ids: dict[str, set] = {}
    for part in parts:
        day = part.parent.name[3:]
        for e in _lines(part):
            assert set(e) == {
                "event_id",
                "event_name",
                "contact_id",
                "anonymous_id",
                "url",
                "value",
                "currency",
                "event_time",
            }
            assert e["event_time"].startswith(day)
            if e["contact_id"] is None:
                continue
            anon_ids.setdefault(e["contact_id"], set()).add(e["anonymous_id"])
            per_intent[truth[e["contact_id"]]["purchase_intent"] >= 0.5][e["event_name"]] += 1
    assert all(len(v) == 1 for v in anon_ids.values())  # one browser cookie per person

    def share(c: Counter, name: str) -> float:
        return c[name] / sum(c.values())

    assert share(per_intent[True], "Purchase") > 2 * share(per_intent[False], "Purchase")
    assert share(per_intent[True], "AddToCart") > share(per_intent[False], "AddToCart")


def test_commune_table_is_real_looking() -> None:
    rows = communes.load()
    assert 60 <= len(rows) <= 170
    assert len({r.insee_code for r in rows}) == len(rows)
    by_zip = {r.postal_code: r for r in rows}
    assert by_zip["75011"].city == "Paris" and by_zip["75011"].insee_code == "75111"
    assert by_zip["44000"].insee_code == "44109" and by_zip["44000"].nuts3 == "FRG01"
    for r in rows:
        assert 41.0 < r.lat < 51.5 and -5.5 < r.lon < 9.7
        assert r.insee_code[:2] == r.departement_code
        assert r.population > 0


def test_cli_generates_a_world(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox",
            "world",
            "generate",
            "--out",
            str(tmp_path),
            "--contacts",
            "120",
            "--events-per-contact",
            "1",
            "--seed",
            "9",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["contacts"] == 120
    assert len((tmp_path / "truth.jsonl").read_text().splitlines()) == 120


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="zero or more"):
        generate(tmp_path, contacts=-1)
