"""Loading and checking the audience catalogue: every mistake a marketer can make is named precisely."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from audience.audiences.catalogue import (
    AllOf,
    AnyOf,
    AttributeCondition,
    AudienceCondition,
    CatalogueError,
    DaysAgo,
    DistanceCondition,
    EventCondition,
    Not,
    load,
)

BASE = """\
name: Test audience
description: For tests.
owner: tests@example.com
destinations: [facebook]
"""


def catalogue(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "audiences"
    folder.mkdir(parents=True)
    for name, body in files.items():
        (folder / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return folder


def problems(tmp_path: Path, files: dict[str, str], **kwargs) -> list[str]:
    with pytest.raises(CatalogueError) as info:
        load(catalogue(tmp_path, files), **kwargs)
    return [str(p) for p in info.value.problems]


def one_rule(rule: str) -> dict[str, str]:
    return {"a.yml": BASE + "rules:\n" + textwrap.indent(textwrap.dedent(rule), "  ")}


def test_a_valid_audience_loads_into_typed_rules(tmp_path: Path) -> None:
    folder = catalogue(
        tmp_path,
        {
            "hot.yml": BASE
            + """\
rules:
  all:
    - {attribute: age, between: [25, 35]}
    - any:
        - {attribute: gender, in: [f]}
        - not: {event: Purchase, within_days: 30, min_count: 2}
    - {near: lyon_shop, within_km: 20}
    - {attribute: last_event_at, gte: {days_ago: 7}}
    - {audience: other}
exclude: [other2]
lookalike: {country: FR, ratio: 0.05}
min_size: 150
""",
            "other.yml": BASE
            + "rules: {event: [AddToCart, PageView], page_path_starts_with: /sale, within_days: 7}\n",
            "other2.yml": BASE + "key: other2\nrules: {attribute: has_text, is_true: true}\n",
        },
    )
    cat = load(folder)
    assert [a.key for a in cat.audiences] == ["other", "other2", "hot"]  # dependencies first
    hot = cat.by_key()["hot"]
    assert hot.source_file == "audiences/hot.yml"
    assert isinstance(hot.rules, AllOf)
    age, either, near, recent, member = hot.rules.children
    assert isinstance(age, AttributeCondition) and age.operator == "between" and age.value == (25, 35)
    assert isinstance(either, AnyOf) and isinstance(either.children[1], Not)
    assert either.children[1].child == EventCondition(("Purchase",), 30, 2)
    assert near == DistanceCondition("lyon_shop", 20)
    assert recent.value == DaysAgo(7)
    assert member == AudienceCondition("other")
    assert hot.depends_on() == ("other", "other2")
    assert hot.lookalike.countries == ("FR",) and hot.lookalike.ratio == 0.05 and hot.lookalike.enabled
    assert hot.min_size == 150
    other = cat.by_key()["other"]
    assert other.rules == EventCondition(("AddToCart", "PageView"), 7, 1, "/sale")


def test_unknown_attribute_names_file_audience_path_and_suggests(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "hot_prospects.yml": BASE
            + """\
rules:
  all:
    - {attribute: age, gte: 18}
    - {attribute: engagment_tier, equals: high}
"""
        },
    )
    assert found == [
        "audiences/hot_prospects.yml: audience 'hot_prospects', rules.all[1].attribute: "
        "unknown attribute 'engagment_tier' (did you mean 'engagement_tier'?)"
    ]


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ("{attribute: age, greater_than: 3}", "rules.greater_than", "unknown operator 'greater_than'"),
        ("{attribute: age, gtt: 3}", "rules.gtt", "(did you mean 'gt'?)"),
        ("{attribute: gender, gt: f}", "rules.gt", "operator 'gt' does not apply to enum attribute 'gender'"),
        ("{attribute: age, gte: 18, lte: 30}", "rules", "takes exactly one operator (found gte, lte)"),
        ("{attribute: age, gte: '18'}", "rules.gte", "must be a whole number, got text"),
        ("{attribute: age, gte: 18.5}", "rules.gte", "must be a whole number, got 18.5"),
        ("{attribute: age, gte: 200}", "rules.gte", "must be at most 130, got 200"),
        ("{attribute: propensity_decile, in: [9, 11]}", "rules.in[1]", "must be at most 10"),
        (
            "{attribute: region_code, equals: 11}",
            "rules.equals",
            "must be text, got a number (11) (put it in quotes)",
        ),
        ("{attribute: gender, equals: female}", "rules.equals", "'female' is not a value of 'gender'"),
        ("{attribute: gender, equals: no}", "rules.equals", "got a boolean (false) (put it in quotes)"),
        ("{attribute: age, between: [35, 25]}", "rules.between", "needs low <= high"),
        ("{attribute: age, between: [25]}", "rules.between", "takes two values"),
        ("{attribute: has_text, equals: true}", "rules.equals", "it accepts: is_true, is_null"),
        ("{attribute: has_text, is_true: yes please}", "rules.is_true", "must be true or false"),
        ("{attribute: gender, in: []}", "rules.in", "'in' is an empty list"),
        (
            "{attribute: country_code, equals: france}",
            "rules.equals",
            "not shaped like a value of 'country_code'",
        ),
        ("{attribute: last_event_at, gte: last week}", "rules.gte", "must be a date written YYYY-MM-DD"),
        ("{attribute: label, equals: x}", "rules.attribute", "unknown attribute 'label'"),
        (
            "{event: Purchse, within_days: 3}",
            "rules.event",
            "unknown event 'Purchse' (did you mean 'Purchase'?)",
        ),
        ("{event: Purchase}", "rules", "needs within_days"),
        ("{event: Purchase, within_days: 0}", "rules.within_days", "must be at least 1"),
        ("{event: Purchase, within_days: 7, min_count: 0}", "rules.min_count", "must be at least 1"),
        (
            "{event: PageView, within_days: 7, page_path_starts_with: sale}",
            "rules.page_path_starts_with",
            "starts with '/'",
        ),
        ("{event: PageView, within_days: 7, page: /sale}", "rules.page", "unknown field 'page'"),
        ("{near: Lyon Shop, within_km: 3}", "rules.near", "near takes a point key"),
        ("{near: lyon_shop}", "rules", "needs within_km"),
        ("{near: lyon_shop, within_km: 0}", "rules.within_km", "more than 0"),
        ("{alll: []}", "rules.alll", "unknown rule 'alll' (did you mean 'all'?)"),
        ("{all: []}", "rules.all", "'all' is an empty list"),
        ("{all: [{attribute: age, gte: 1}], any: []}", "rules", "'all' must be alone in its rule"),
        ("{not: [{attribute: age, gte: 1}]}", "rules.not", "'not' takes one rule, not a list"),
        ("{attribute: age, gte: 1, event: Purchase}", "rules", "one condition per rule"),
        ("{any: [{attribute: age, gte: 1}, 3]}", "rules.any[1]", "a rule must be a mapping"),
        ("{audience: nobody}", "rules.audience", "unknown audience 'nobody'"),
        ("{audience: a}", "rules.audience", "an audience cannot refer to itself"),
        (
            "{attribute: interest_label, equals: '{{ run_query(1) }}'}",
            "rules.equals",
            "dbt reads them as Jinja",
        ),
    ],
)
def test_bad_rules_are_named(tmp_path: Path, rule: str, path: str, message: str) -> None:
    (found,) = problems(tmp_path, one_rule(rule))
    prefix = f"audiences/a.yml: audience 'a', {path}: "
    assert found.startswith(prefix), found
    assert message in found, found


def test_near_checks_known_points_when_a_points_seed_exists(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, one_rule("{near: lyon_shopp, within_km: 3}"), point_keys={"lyon_shop"})
    assert found.endswith(
        "rules.near: unknown point 'lyon_shopp' (did you mean 'lyon_shop'?); points: lyon_shop"
    )


def test_unknown_include_and_cycles(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "a.yml": BASE + "rules: {attribute: age, gte: 18}\ninclude: [b, missing_one]\n",
            "b.yml": BASE + "rules: {audience: c}\n",
            "c.yml": BASE + "rules: {attribute: age, gte: 18}\nexclude: [a]\n",
        },
    )
    assert found == ["audiences/a.yml: audience 'a', include[1]: unknown audience 'missing_one'"]
    found = problems(
        tmp_path / "second",
        {
            "a.yml": BASE + "rules: {attribute: age, gte: 18}\ninclude: [b]\n",
            "b.yml": BASE + "rules: {audience: c}\n",
            "c.yml": BASE + "rules: {attribute: age, gte: 18}\nexclude: [a]\n",
        },
    )
    assert found == [
        "audiences/a.yml: audience 'a': audiences refer to each other in a cycle: a -> b -> c -> a"
    ]


@pytest.mark.parametrize(
    ("lookalike", "path", "message"),
    [
        ("{country: FR, ratio: 0.5}", "lookalike.ratio", "ratio must be at most 0.2, got 0.5"),
        ("{country: FR, ratio: 0.001}", "lookalike.ratio", "ratio must be at least 0.01"),
        ("{country: FR}", "lookalike", "lookalike needs ratio"),
        ("{country: France, ratio: 0.01}", "lookalike.country", "ISO 3166-1 alpha-2"),
        ("{countries: [FR, NO], ratio: 0.01}", "lookalike.countries[1]", "YAML reads NO as false"),
        ("{ratio: 0.01}", "lookalike", "needs country"),
        ("{country: FR, ratio: 0.05, starting_ratio: 0.05}", "lookalike.starting_ratio", "below ratio"),
        ("{country: FR, ratio: 0.05, size: 3}", "lookalike.size", "unknown field 'size'"),
    ],
)
def test_lookalike_settings_follow_facebook(tmp_path: Path, lookalike: str, path: str, message: str) -> None:
    files = {"a.yml": BASE + f"rules: {{attribute: age, gte: 18}}\nlookalike: {lookalike}\n"}
    (found,) = problems(tmp_path, files)
    assert found.startswith(f"audiences/a.yml: audience 'a', {path}: "), found
    assert message in found, found


def test_lookalike_needs_facebook_and_linkedin_raises_min_size(tmp_path: Path) -> None:
    body = BASE.replace("[facebook]", "[linkedin]") + "rules: {attribute: age, gte: 18}\n"
    (found,) = problems(tmp_path, {"a.yml": body + "lookalike: {country: FR, ratio: 0.01}\n"})
    assert "lookalike: lookalike audiences are built by Facebook" in found
    cat = load(
        catalogue(tmp_path / "ok", {"a.yml": body + "min_size: 120\n", "b.yml": BASE + "include: [a]\n"})
    )
    assert cat.by_key()["a"].effective_min_size() == 300  # LinkedIn needs 300 matched members
    assert cat.by_key()["b"].effective_min_size() is None  # var audience_min_size decides


def test_audience_level_problems_are_all_reported(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        {
            "a.yml": "name: A\ndescription: d\nrules: {attribute: age, gte: 18}\ndestinations: [facebok]\nfoo: 1\n",
            "Bad Name.yml": BASE + "rules: {attribute: age, gte: 18}\n",
            "c.yml": BASE + "rules: {attribute: age, gte: 18}\nkey: d\n",
            "d.yml": BASE + "rules: {attribute: age, gte: 18}\n",
            "e.yml": BASE,
            "f.yml": "name: [unclosed\n",
            "g.yml": BASE + "rules: {attribute: age, gte: 18}\nname: twice\n",
            "h.yml": BASE + "key: Upper\nrules: {attribute: age, gte: 18}\n",
        },
    )
    assert any(
        p.startswith("audiences/a.yml: audience 'a', foo: unknown field 'foo' in an audience") for p in found
    )
    assert "audiences/a.yml: audience 'a', owner: missing owner" in found
    assert any(
        p.startswith(
            "audiences/a.yml: audience 'a', destinations[0]: unknown destination 'facebok' "
            "(did you mean 'facebook'?)"
        )
        for p in found
    )
    assert any(p.startswith("audiences/Bad Name.yml: file names may only hold") for p in found)
    assert "audiences/d.yml: audience 'd', key: key already used by audiences/c.yml" in found
    assert "audiences/e.yml: audience 'e': an audience needs rules or include (or both)" in found
    assert any(p.startswith("audiences/f.yml: line 2: not valid YAML: expected") for p in found)
    assert any(p.startswith("audiences/g.yml: line") and "key 'name' is written twice" in p for p in found)
    assert any(p.startswith("audiences/h.yml: key: audience key 'Upper' must be lower-case") for p in found)


def test_an_empty_catalogue_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path, {}) == ["audiences: the catalogue holds no audience file (*.yml)"]


def test_shipped_catalogue_is_valid() -> None:
    from audience.audiences import catalogue_dir

    keys = {a.key for a in load(catalogue_dir()).audiences}
    assert {
        "consenting_adults",
        "active_buyers_30d",
        "hot_prospects",
        "eco_fashion_women_25_35_this_week",
        "young_professionals_idf_30d",
        "committed_ecologists",
    } <= keys
