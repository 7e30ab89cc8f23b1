"""Normalisation and hashing per Meta's table (docs/external-apis.md), with known vectors.

The SHA-256 vectors below were computed once with hashlib, independently of
the code under test, and are kept literal so a change in normalisation shows.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib

import pytest
from facebook_business.adobjects.customaudience import CustomAudience

from audience import identity
from audience.identity import (
    FACEBOOK_SCHEMA,
    doby,
    facebook_row,
    facebook_values,
    is_sha256_hex,
    linkedin_email_sha256,
    normalize_city,
    normalize_country,
    normalize_email,
    normalize_gender,
    normalize_name,
    normalize_phone,
    normalize_zip,
    parse_birth_date,
    sha256_hex,
)

SHA_33612345678 = "8a3e7886c9335e82e02299fa3e87b46e2de3b0c63d56003e30a5029394a47661"
SHA_16505551212 = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
SHA_JOSE = "d994e1d001886fe5b45b1267bd1fa2b752ac50742579bd3dad7b2a2aa0ed6866"  # "josé"
SHA_JOS = "f854b2aeb789d616b26acff4df9ff7741d09d5f7a63add238201880e5b10bf2b"  # "jos"
SHA_JOHN = "855f96e983f1f8e8be944692b6f719fd54329826cb62e98015efee8e2e071dd4"  # "john@example.com"
SHA_FR = "67ad8f41a7bb0a18c45f3efd8f6a32bdcd832bcf8f3f2eb44006c03d53076e18"
SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
TODAY = dt.date(2026, 6, 1)


def test_sha256_known_vectors_and_empty_is_never_hashed():
    assert sha256_hex("33612345678") == SHA_33612345678
    assert sha256_hex("16505551212") == SHA_16505551212
    assert sha256_hex("josé") == SHA_JOSE
    assert sha256_hex("") == ""
    assert is_sha256_hex(SHA_JOSE)
    assert not is_sha256_hex(SHA_JOSE.upper())
    assert not is_sha256_hex("john@example.com")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  John@Example.COM ", "john@example.com"),
        ("mailto:john@example.com", "john@example.com"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["john", "john@", "@example.com", "john@localhost", "jo hn@example.com"])
def test_normalize_email_rejects_non_addresses_with_a_reason_free_of_pii(raw):
    result = normalize_email(raw)
    assert result == ""
    assert result.reason and "john" not in result.reason


@pytest.mark.parametrize(
    "raw, country, expected",
    [
        ("06 12 34 56 78", "FR", "33612345678"),
        ("+33 6 12 34 56 78", None, "33612345678"),
        ("0033612345678", "fr", "33612345678"),
        ("(0)6-12-34-56-78", "France", "33612345678"),
        ("+33 (0)6 12 34 56 78", None, "33612345678"),
        ("+33 06 12 34 56 78", None, "33612345678"),
        ("33612345678", "FR", "33612345678"),
        ("06.12.34.56.78", "FR", "33612345678"),
        ("(650)555-1212", "US", "16505551212"),
        ("1-650-555-1212", "US", "16505551212"),
        ("0470 12 34 56", "Belgique", "32470123456"),
        ("0170 1234567", "DE", "491701234567"),
        ("+49 (0)170 1234567", None, "491701234567"),
        # Italy: the leading 0 of a landline belongs to the number
        ("+39 06 1234 5678", None, "390612345678"),
        ("347 123 4567", "IT", "393471234567"),
        ("612 345 678", "ES", "34612345678"),
        ("06 12 34 56 78 ext. 12", "FR", "33612345678"),
        ("+212 612 345678", None, "212612345678"),
    ],
)
def test_normalize_phone(raw, country, expected):
    assert normalize_phone(raw, country) == expected


@pytest.mark.parametrize(
    "raw, country, reason",
    [
        ("06 12", "FR", "too few digits"),
        ("+33 6 12 34 56 78 90 12", None, "too many digits"),
        ("612345678", None, "national number without a known country"),
        ("06 12 34 56 78", "Atlantis", "national number without a known country"),
        ("call me", "FR", "phone contains letters or symbols"),
    ],
)
def test_normalize_phone_unparseable_gives_empty_with_reason(raw, country, reason):
    result = normalize_phone(raw, country)
    assert result == ""
    assert result.reason == reason


def test_blank_phone_is_empty_without_reason():
    assert normalize_phone("", "FR") == ""
    assert normalize_phone("   ", "FR").reason is None


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("José", "josé"),
        ("  Hélène ", "hélène"),
        ("MÜLLER", "müller"),
        ("Jean-Pierre", "jeanpierre"),
        ("O'Brien", "obrien"),
        ("e\u0301lodie", "élodie"),  # decomposed accent is composed first
        ("Anne Marie 2", "annemarie"),
    ],
)
def test_normalize_name_keeps_non_ascii_letters(raw, expected):
    assert normalize_name(raw) == expected


def test_normalize_name_without_letters_has_a_reason():
    assert normalize_name("123 !").reason == "name has no letters"
    assert normalize_name("").reason is None


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Paris", "paris"),
        ("Paris 11e", "paris"),
        ("LYON CEDEX 03", "lyon"),
        ("Marseille 1er arrondissement", "marseille"),
        ("Saint-Étienne", "saintétienne"),
        ("Aix-en-Provence", "aixenprovence"),
    ],
)
def test_normalize_city(raw, expected):
    assert normalize_city(raw) == expected


@pytest.mark.parametrize(
    "raw, country, expected",
    [
        ("75011", "FR", "75011"),
        ("1000", "FR", "01000"),
        ("F-75011", "FR", "75011"),
        ("1012 AB", "NL", "1012ab"),
        ("94043-1351", "US", "94043"),
        ("SW1A 1AA", "GB", "sw1a1aa"),
        ("1000-001", "PT", "1000001"),
    ],
)
def test_normalize_zip(raw, country, expected):
    assert normalize_zip(raw, country) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("FR", "fr"),
        ("France", "fr"),
        ("fr", "fr"),
        (" FRA ", "fr"),
        ("Belgique", "be"),
        ("België", "be"),
        ("DE", "de"),
        ("Germany", "de"),
        ("Deutschland", "de"),
        ("España", "es"),
        ("Pays-Bas", "nl"),
        ("Österreich", "at"),
        ("UK", "gb"),
        ("Luxembourg", "lu"),
        ("Japan", "jp"),  # beyond the alias table: ISO names
    ],
)
def test_normalize_country(raw, expected):
    assert normalize_country(raw) == expected


def test_normalize_country_unknown():
    assert normalize_country("Atlantis").reason == "unknown country"
    assert normalize_country("XX") == ""


@pytest.mark.parametrize(
    "raw, expected",
    [("M", "m"), ("F", "f"), ("male", "m"), ("female", "f"), ("Femme", "f"), ("Homme", "m"), ("", "")],
)
def test_normalize_gender(raw, expected):
    assert normalize_gender(raw) == expected


def test_normalize_gender_other_values_are_dropped_with_reason():
    assert normalize_gender("non-binary") == ""
    assert normalize_gender("non-binary").reason == "gender not m or f"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1987-04-12", "1987"),
        ("12/04/1987", "1987"),
        ("12.04.87", "1987"),
        ("1987", "1987"),
        ("31880", "1987"),  # Excel serial: 1987-04-13
        ("19870412", "1987"),
        (dt.date(1990, 2, 28), "1990"),
        ("", ""),
    ],
)
def test_doby(raw, expected):
    assert doby(raw, today=TODAY) == expected


@pytest.mark.parametrize(
    "raw, reason",
    [("31/02/1990", "impossible date"), ("2090", "implausible birth year"), ("soon", "unreadable date")],
)
def test_doby_rejects_with_reason(raw, reason):
    result = doby(raw, today=TODAY)
    assert result == ""
    assert result.reason == reason


def test_parse_birth_date_day_first_unless_impossible():
    assert parse_birth_date("04/05/1987", today=TODAY) == identity.BirthDate(1987, 5, 4)
    assert parse_birth_date("04/25/1987", today=TODAY) == identity.BirthDate(1987, 4, 25)
    assert parse_birth_date("31880", today=TODAY) == identity.BirthDate(1987, 4, 13)


def test_facebook_row_hashes_everything_but_extern_id_and_reports_reasons():
    row, reasons = facebook_row(
        {
            "person_id": "P-ABC",
            "email": "  John@Example.com ",
            "phone": "06 12 34 56 78",
            "first_name": "José",
            "last_name": "",
            "city": "Saint-Étienne",
            "zip": "75011",
            "country": "France",
            "date_of_birth": "31/02/1990",
            "gender": "Femme",
        }
    )
    assert list(row) == list(FACEBOOK_SCHEMA)
    assert row["EXTERN_ID"] == "P-ABC"  # never hashed, never lowercased
    assert row["EMAIL"] == SHA_JOHN
    assert row["PHONE"] == SHA_33612345678
    assert row["FN"] == SHA_JOSE
    assert row["LN"] == ""  # empty stays empty, never the hash of ""
    assert row["COUNTRY"] == SHA_FR
    assert row["DOBY"] == ""
    assert row["GEN"] == sha256_hex("f")
    assert row["CT"] == hashlib.sha256("saintétienne".encode()).hexdigest()
    assert reasons == {"DOBY": "impossible date"}
    assert all(v == "" or is_sha256_hex(v) for k, v in row.items() if k != "EXTERN_ID")


def test_facebook_row_reads_warehouse_columns_and_hubspot_names():
    warehouse = facebook_values({"extern_id": "1", "phone_e164_digits": "+33612345678", "country_code": "FR"})
    hubspot = facebook_values({"person_id": "1", "phone": "0612345678", "country": "fr", "firstname": "José"})
    assert warehouse[2] == hubspot[2] == SHA_33612345678
    assert hubspot[3] == SHA_JOSE and warehouse[3] == ""


def test_facebook_row_with_nothing_gives_empty_strings_not_hashes_of_empty():
    row, reasons = facebook_row({})
    assert set(row.values()) == {""}
    assert SHA_EMPTY not in row.values()
    assert reasons == {}


def test_linkedin_email_hash():
    assert linkedin_email_sha256(" John@Example.com") == SHA_JOHN
    assert linkedin_email_sha256(None) == ""


# --------------------------------------------------------------------------- SDK traps


def _sdk_row(values: list[str]) -> list[str]:
    params = CustomAudience.format_params(list(FACEBOOK_SCHEMA), [values], is_raw=True)
    return params["payload"]["data"][0]


RAW = [
    "P-ABC",
    "  John@Example.com ",
    "06 12 34 56 78",
    "José",
    "",
    "Paris",
    "75011",
    "France",
    "1987",
    "Homme",
]
FIELDS = {
    "person_id": RAW[0],
    "email": RAW[1],
    "phone": RAW[2],
    "first_name": RAW[3],
    "last_name": RAW[4],
    "city": RAW[5],
    "zip": RAW[6],
    "country": RAW[7],
    "birth_date": RAW[8],
    "gender": RAW[9],
}


def test_sdk_hashing_traps_that_ours_avoids():
    sdk = dict(zip(FACEBOOK_SCHEMA, _sdk_row(RAW), strict=True))
    ours, _ = facebook_row(FIELDS)
    # names: the SDK drops every non a-z letter ("José" -> "jos")
    assert sdk["FN"] == SHA_JOS and ours["FN"] == SHA_JOSE
    # phone: the SDK keeps the trunk zero and adds no calling code
    assert sdk["PHONE"] == sha256_hex("0612345678") and ours["PHONE"] == SHA_33612345678
    # EXTERN_ID: the SDK lowercases it (a different id); ours is sent as is
    assert sdk["EXTERN_ID"] == "p-abc" and ours["EXTERN_ID"] == "P-ABC"
    # empty value: the SDK hashes "" ; we send ""
    assert sdk["LN"] == SHA_EMPTY and ours["LN"] == ""
    # country: the SDK keeps the first two letters ("Germany" -> "ge")
    german = dict(zip(FACEBOOK_SCHEMA, _sdk_row(RAW[:7] + ["Germany"] + RAW[8:]), strict=True))
    assert german["COUNTRY"] == sha256_hex("ge")
    assert facebook_row({"country": "Germany"})[0]["COUNTRY"] == sha256_hex("de")
    # gender: the SDK keeps the first letter ("Homme" -> "h")
    assert sdk["GEN"] == sha256_hex("h") and ours["GEN"] == sha256_hex("m")
    # where the SDK is right, we agree
    assert sdk["EMAIL"] == ours["EMAIL"] == SHA_JOHN
    assert sdk["ZIP"] == ours["ZIP"]


# --------------------------------------------------------------------------- against the planted truth


def test_normalisation_agrees_with_the_synthetic_worlds_truth(tmp_path):
    """Every value we produce from the world's messy CRM fields equals the generator's planted truth;
    what we cannot be sure of is refused with a reason, never guessed."""
    import json

    from sandbox.world import generate

    generate(tmp_path, contacts=1_500, events_per_contact=0, seed=3)
    truth = {}
    with open(tmp_path / "truth.jsonl", encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            truth[item["contact_id"]] = item
    used = collections.Counter()
    with open(tmp_path / "hubspot_contacts.jsonl", encoding="utf-8") as handle:
        for line in handle:
            contact = json.loads(line)
            props, planted = contact["properties"], truth[contact["id"]]
            country = normalize_country(props["country"])
            if props["country"]:
                assert country == (planted["country_code"] or "").lower()
            phone = normalize_phone(props["phone"], country)
            if phone:
                assert phone == planted["phone_e164_digits"]
                used["phone"] += 1
            elif props["phone"]:
                assert phone.reason
            year = doby(props["date_of_birth"])
            if year:
                assert year == planted["birth_date"][:4]
                used["doby"] += 1
            elif props["date_of_birth"]:
                assert year.reason
            gender = normalize_gender(props["gender"])
            if props["gender"]:
                assert gender == planted["gender"]
                used["gender"] += 1
            assert normalize_email(props["email"]) or not props["email"]
    # most values are usable (the rest are blanks, impossible dates, phones without a country)
    assert used["phone"] > 1_100 and used["doby"] > 1_000 and used["gender"] > 1_000
