"""The audience models run against stand-in marts: exact member sets for hand-made people.

One database for the module. person_segments.sql, the committed generated aud_*.sql of the
shipped catalogue (audiences/*.yml), a test catalogue covering every node type, and the real
audience_members.sql are rendered (ref -> stand-in tables) and executed as they are written.
"""

from __future__ import annotations

import dataclasses
import textwrap
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from audience_standins import STANDIN_REFS, Person, create_table, load_people, model_file, render

from audience.audiences import catalogue_dir, compiler, dbt_project_dir
from audience.audiences.attributes import ATTRIBUTES
from audience.audiences.catalogue import Catalogue, load

ODD_LABEL = "x'); drop table standin.persons; --"
BRACE_LABEL = "a{b}\\c }}"


def people() -> list[Person]:
    recent_visit = ("PageView", "/about", "2026-10-30", None)
    purchase = ("Purchase", "/checkout/confirmation", "2026-10-20", 50.0)
    eco_view = ("ViewContent", "/eco_fashion/dress")
    return [
        Person("buyer_web", events=[purchase]),
        Person("buyer_crm", recency_days=10),
        Person("buyer_old", recency_days=47, events=[("Purchase", "/checkout", "2026-09-15", 80.0)]),
        Person("prospect_decile", propensity_decile=9),
        Person(
            "prospect_sale_cart",
            events=[
                ("PageView", "/sale/summer", "2026-10-28", None),
                ("AddToCart", "/outdoor/tent", "2026-10-29", 90.0),
            ],
        ),
        Person("prospect_sale_only", events=[("PageView", "/sale", "2026-10-28", None)]),
        Person(
            "prospect_old_sale",
            events=[
                ("PageView", "/sale", "2026-10-10", None),
                ("AddToCart", "/outdoor/tent", "2026-10-29", 90.0),
            ],
        ),
        Person(
            "prospect_not_sale",
            events=[("PageView", "/salers", "2026-10-28", None), ("AddToCart", "/x", "2026-10-29", 1.0)],
        ),
        Person("buyer_decile", propensity_decile=10, events=[("Purchase", "/checkout", "2026-10-25", 150.0)]),
        Person(
            "eco_woman",
            gender="f",
            age=30,
            interest_label="eco_fashion",
            comment_count=1,
            events=[recent_visit],
        ),
        Person(
            "eco_woman_views",
            gender="f",
            age=25,
            events=[
                (*eco_view, "2026-09-10", 40.0),
                (*eco_view, "2026-10-01", 40.0),
                ("PageView", "/", "2026-10-27", None),
            ],
        ),
        Person(
            "eco_woman_one_view", gender="f", age=35, events=[(*eco_view, "2026-10-01", 40.0), recent_visit]
        ),
        Person("eco_woman_36", gender="f", age=36, interest_label="eco_fashion", events=[recent_visit]),
        Person("eco_man", gender="m", age=30, interest_label="eco_fashion", events=[recent_visit]),
        Person(
            "eco_woman_stale",
            gender="f",
            age=30,
            interest_label="eco_fashion",
            events=[("PageView", "/", "2026-10-20", None)],
        ),
        Person("eco_unknown_gender", age=30, interest_label="eco_fashion", events=[recent_visit]),
        Person("idf_young", age=40, region_code="11", events=[("PageView", "/", "2026-10-05", None)]),
        Person("idf_old", age=41, region_code="11", events=[recent_visit]),
        Person("paca_young", age=30, region_code="93", events=[recent_visit]),
        Person("idf_no_visit", age=30, region_code="11", events=[("PageView", "/", "2026-09-20", None)]),
        Person("ecologist_comments", interest_label="eco_fashion", comment_count=2),
        Person(
            "ecologist_viewer",
            events=[
                (*eco_view, f"2026-{m:02d}-{d:02d}", 10.0)
                for m, d in ((8, 10), (9, 1), (9, 20), (10, 5), (10, 20))
            ],
        ),
        Person(
            "ecologist_4_views",
            events=[
                (*eco_view, f"2026-{m:02d}-{d:02d}", 10.0)
                for m, d in ((7, 1), (9, 1), (9, 20), (10, 5), (10, 20))
            ],
        ),
        Person("refuser", consent=False, events=[purchase]),
        Person("erased", erased=True, events=[purchase]),
        Person("minor", age=16, events=[purchase]),
        Person("unknown_age", age=None, events=[purchase]),
        Person("unreachable", reachable=False, events=[purchase]),
        Person("near_shop_5", distances=[("lyon_shop", 5.0)]),
        Person("near_shop_12", gender="f", distances=[("lyon_shop", 12.0)]),
        Person("near_shop_25", distances=[("lyon_shop", 25.0), ("paris_shop", 3.0)]),
        Person("odd_label", interest_label=ODD_LABEL),
        Person("brace_label", interest_label=BRACE_LABEL),
    ]


NOT_ADDRESSABLE = {"refuser", "erased", "minor", "unknown_age", "unreachable"}

SHIPPED = {
    "active_buyers_30d": {"buyer_web", "buyer_crm", "buyer_decile", *NOT_ADDRESSABLE},
    "hot_prospects": {"prospect_decile", "prospect_sale_cart"},
    "eco_fashion_women_25_35_this_week": {"eco_woman", "eco_woman_views"},
    "young_professionals_idf_30d": {"idf_young"},
    "committed_ecologists": {"ecologist_comments", "ecologist_viewer"},
}

TEST_CATALOGUE = {
    "near_shop": "rules: {near: lyon_shop, within_km: 20}",
    "not_women": "rules: {not: {attribute: gender, equals: f}}",
    "union_of": "include: [near_shop, not_women]",
    "near_and_not_women": "rules: {all: [{audience: near_shop}, {audience: not_women}]}",
    "odd_label": 'rules: {attribute: interest_label, equals: "x\'); drop table standin.persons; --"}',
    "brace_label": 'rules: {attribute: interest_label, in: ["a{b}\\\\c }}"]}',
    "big_spenders": "rules: {event: Purchase, within_days: 90, min_value_eur: 100}",
    "no_decile": "rules: {attribute: propensity_decile, is_null: true}",
    "everyone_but_near": "rules: {attribute: age, gte: 0}\nexclude: [near_shop]",
    "recent_last_event": "rules: {attribute: last_event_at, gte: {days_ago: 7}}",
    "outside_idf": "rules: {attribute: region_code, not_in: ['11']}",
    "texters": "rules: {attribute: has_text, is_true: true}",
    "sale_visitors": "rules: {event: PageView, page_path_starts_with: /sale, within_days: 30}",
}


def expected_members(all_people: list[Person]) -> dict[str, set[str]]:
    """The test catalogue's expected members (before consent), computed from the people."""
    ids = {p.person_id for p in all_people}
    by_id = {p.person_id: p for p in all_people}
    not_women = {p.person_id for p in all_people if p.gender != "f"}
    near = {"near_shop_5", "near_shop_12"}
    has_text = {p.person_id for p in all_people if p.interest_label is not None or p.comment_count}
    return {
        "near_shop": near,
        "not_women": not_women,
        "union_of": near | not_women,
        "near_and_not_women": {"near_shop_5"},
        "odd_label": {"odd_label"},
        "brace_label": {"brace_label"},
        "big_spenders": {"buyer_decile"},
        "no_decile": ids - {"prospect_decile", "buyer_decile"},
        "everyone_but_near": {i for i in ids if by_id[i].age is not None} - near,
        "recent_last_event": {
            p.person_id
            for p in all_people
            if p.last_event_on() and p.last_event_on().isoformat() >= "2026-10-25"
        },
        "outside_idf": {"paca_young"},
        "texters": has_text,
        # /sale and /sale/..., not /salers; the /sale visit of 2026-10-10 is within 30 days
        "sale_visitors": {"prospect_sale_cart", "prospect_sale_only", "prospect_old_sale"},
    }


@dataclasses.dataclass
class Built:
    conn: psycopg.Connection
    people: list[Person]

    def ids(self, sql: str, *args: object) -> set[str]:
        return {row[0] for row in self.conn.execute(sql, args).fetchall()}


def _build_catalogue(
    conn: psycopg.Connection, schema: str, catalogue: Catalogue, sql_by_key: dict[str, str]
) -> None:
    conn.execute(f"create schema {schema}")
    refs = {**STANDIN_REFS, "person_segments": "seg.person_segments"}
    refs |= {f"aud_{a.key}": f"{schema}.aud_{a.key}" for a in catalogue.audiences}
    for audience in catalogue.audiences:  # dependency order
        create_table(conn, f"{schema}.aud_{audience.key}", render(sql_by_key[audience.key], refs))
    create_table(conn, f"{schema}.audience_memberships", render(compiler.memberships_sql(catalogue), refs))
    members_refs = {**STANDIN_REFS, "audience_memberships": f"{schema}.audience_memberships"}
    members_sql = model_file(dbt_project_dir(), "models/marts/audiences/audience_members.sql")
    create_table(
        conn, f"{schema}.audience_members", render(members_sql, members_refs, {"audience_min_age": 18})
    )


@pytest.fixture(scope="module")
def built(warehouse_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    name = f"audience_test_aud_{uuid.uuid4().hex[:10]}"
    admin = warehouse_server.libpq()
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    params = dataclasses.replace(warehouse_server, dbname=name)
    all_people = people()
    try:
        with psycopg.connect(**params.libpq(), autocommit=True) as conn:
            load_people(conn, all_people)
            conn.execute("create schema seg")
            segments_sql = model_file(dbt_project_dir(), "models/marts/segments/person_segments.sql")
            create_table(conn, "seg.person_segments", render(segments_sql, STANDIN_REFS))

            shipped = load(catalogue_dir())
            committed = {
                a.key: (dbt_project_dir() / compiler.GENERATED_DIR / f"aud_{a.key}.sql").read_text()
                for a in shipped.audiences
            }
            _build_catalogue(conn, "shipped", shipped, committed)

            folder = tmp_path_factory.mktemp("catalogue") / "audiences"
            folder.mkdir()
            for key, rules in TEST_CATALOGUE.items():
                (folder / f"{key}.yml").write_text(
                    f"name: {key}\ndescription: test\nowner: tests\ndestinations: [facebook]\n"
                    + textwrap.dedent(rules)
                    + "\n"
                )
            adhoc = load(folder, point_keys={"lyon_shop", "paris_shop"})
            _build_catalogue(conn, "adhoc", adhoc, {a.key: compiler.audience_sql(a) for a in adhoc.audiences})
            yield Built(conn, all_people)
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def test_person_segments_has_one_row_per_person_and_every_registry_attribute(built: Built) -> None:
    columns = [
        r[0]
        for r in built.conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'seg' and table_name = 'person_segments' order by ordinal_position"
        ).fetchall()
    ]
    assert columns == ["person_id", *ATTRIBUTES]
    assert built.ids("select person_id from seg.person_segments") == {p.person_id for p in built.people}
    row = built.conn.execute(
        "select visits_7d, frequency, comment_count, has_text, propensity_decile from seg.person_segments "
        "where person_id = 'buyer_web'"
    ).fetchone()
    assert row == (0, 0, 0, False, None)  # marts without a row for the person: counts 0, scores unknown


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_shipped_audiences_hold_exactly_the_planted_people(built: Built, key: str) -> None:
    assert built.ids(f"select person_id from shipped.aud_{key}") == SHIPPED[key]
    assert built.ids("select person_id from shipped.audience_members where audience_key = %s", key) == (
        SHIPPED[key] - NOT_ADDRESSABLE
    )


def test_consenting_adults_and_the_consent_filter_cannot_be_bypassed(built: Built) -> None:
    adults = {p.person_id for p in built.people if p.age is not None and p.age >= 18}
    assert built.ids("select person_id from shipped.aud_consenting_adults") == adults
    members = built.ids(
        "select person_id from shipped.audience_members where audience_key = 'consenting_adults'"
    )
    assert members == adults - NOT_ADDRESSABLE
    # whatever the rules matched (refusals, erasures, minors, unknown ages are in aud_*), none is a member
    assert built.ids("select person_id from shipped.audience_members") & NOT_ADDRESSABLE == set()
    assert built.ids("select person_id from adhoc.audience_members") & NOT_ADDRESSABLE == set()
    assert built.ids("select person_id from adhoc.aud_not_women") & NOT_ADDRESSABLE == NOT_ADDRESSABLE


@pytest.mark.parametrize("key", sorted(TEST_CATALOGUE))
def test_each_node_type_selects_exactly_the_expected_people(built: Built, key: str) -> None:
    expected = expected_members(built.people)[key]
    assert built.ids(f"select person_id from adhoc.aud_{key}") == expected
    assert built.ids("select person_id from adhoc.audience_members where audience_key = %s", key) == (
        expected - NOT_ADDRESSABLE
    )


def test_injection_attempt_was_only_a_value(built: Built) -> None:
    (count,) = built.conn.execute("select count(*) from standin.persons").fetchone()
    assert count == len(built.people)


def test_members_carry_the_hashed_identifiers(built: Built) -> None:
    rows = built.conn.execute(
        "select person_id, extern_id, email_sha256, phone_sha256 from shipped.audience_members "
        "where audience_key = 'hot_prospects' order by person_id"
    ).fetchall()
    assert rows == [
        ("prospect_decile", "prospect_decile", "a" * 64, ""),
        ("prospect_sale_cart", "prospect_sale_cart", "a" * 64, ""),
    ]
