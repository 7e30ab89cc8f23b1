"""The rule compiler: SQL for each node type, safe literals, generated files, and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import textwrap
from pathlib import Path

import pytest

from audience.audiences import attributes as reg
from audience.audiences import catalogue_dir, compiler, dbt_project_dir
from audience.audiences.catalogue import (
    AllOf,
    AnyOf,
    AttributeCondition,
    Audience,
    AudienceCondition,
    DaysAgo,
    DistanceCondition,
    EventCondition,
    Not,
    load,
)
from audience.audiences.commands import run
from audience.cli import main

A = reg.ATTRIBUTES


def cond(attribute: str, operator: str, value: object) -> AttributeCondition:
    return AttributeCondition(A[attribute], operator, value)


@pytest.mark.parametrize(
    ("node", "sql"),
    [
        (cond("age", "gte", 18), "coalesce(segments.age >= 18, false)"),
        (cond("age", "between", (25, 35)), "coalesce(segments.age between 25 and 35, false)"),
        (cond("gender", "equals", "f"), "coalesce(segments.gender = 'f', false)"),
        (cond("gender", "not_equals", "f"), "coalesce(segments.gender <> 'f', false)"),
        (cond("interest_label", "in", ("a", "b")), "coalesce(segments.interest_label in ('a', 'b'), false)"),
        (cond("region_code", "not_in", ("11",)), "coalesce(segments.region_code not in ('11'), false)"),
        (cond("purchase_propensity", "gt", 0.75), "coalesce(segments.purchase_propensity > 0.75, false)"),
        (
            cond("nuts3_code", "starts_with", "FR1"),
            "coalesce(starts_with(segments.nuts3_code, 'FR1'), false)",
        ),
        (cond("age", "is_null", True), "segments.age is null"),
        (cond("age", "is_null", False), "segments.age is not null"),
        (cond("has_text", "is_true", True), "segments.has_text is true"),
        (cond("has_text", "is_true", False), "segments.has_text is not true"),
        (
            cond("last_event_at", "gte", DaysAgo(7)),
            "coalesce(cast(segments.last_event_at as date) >= ({{ as_of_date() }} - 7), false)",
        ),
        (
            cond("last_event_at", "lt", dt.date(2026, 10, 1)),
            "coalesce(cast(segments.last_event_at as date) < date '2026-10-01', false)",
        ),
        (AudienceCondition("other"), "segments.person_id in (select person_id from {{ ref('aud_other') }})"),
    ],
)
def test_leaf_sql(node, sql: str) -> None:
    assert compiler.rule_sql(node) == [sql]


def test_event_sql_windows_on_as_of_date() -> None:
    lines = compiler.rule_sql(EventCondition(("AddToCart", "PageView"), 7, 3, "/sale", 20.5))
    assert lines == [
        "segments.person_id in (",
        "    select events.person_id",
        "    from {{ ref('int_web_events__attributed') }} as events",
        "    where events.person_id is not null",
        "        and events.event_name in ('AddToCart', 'PageView')",
        "        and events.event_at >= {{ as_of_date() }} - 7",
        "        and events.event_at < {{ as_of_date() }} + 1",
        "        and (events.page_path = '/sale' or starts_with(events.page_path, '/sale/'))",
        "        and events.value_eur >= 20.5",
        "    group by events.person_id",
        "    having count(*) >= 3",
        ")",
    ]
    any_event = "\n".join(compiler.rule_sql(EventCondition((), 30)))
    assert "event_name" not in any_event and "having" not in any_event


def test_distance_sql() -> None:
    assert compiler.rule_sql(DistanceCondition("lyon_shop", 20)) == [
        "segments.person_id in (",
        "    select distances.person_id",
        "    from {{ ref('person_distances') }} as distances",
        "    where distances.point_key = 'lyon_shop'",
        "        and distances.distance_km <= 20",
        ")",
    ]


def test_branches_nest_with_and_or_not() -> None:
    tree = AllOf(
        (
            cond("age", "gte", 18),
            AnyOf((cond("gender", "equals", "f"), Not(cond("has_text", "is_true", True)))),
            Not(AllOf((cond("age", "lt", 30), cond("age", "gt", 20)))),
        )
    )
    assert compiler.rule_sql(tree) == [
        "(",
        "    coalesce(segments.age >= 18, false)",
        "    and (",
        "        coalesce(segments.gender = 'f', false)",
        "        or not segments.has_text is true",
        "    )",
        "    and not (",
        "        (",
        "            coalesce(segments.age < 30, false)",
        "            and coalesce(segments.age > 20, false)",
        "        )",
        "    )",
        ")",
    ]
    assert compiler.rule_sql(AnyOf((cond("age", "gte", 18),))) == ["coalesce(segments.age >= 18, false)"]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("x'); drop table persons; --", "'x''); drop table persons; --'"),
        (
            "{{ run_query('drop') }}",
            "(chr(123) || chr(123) || ' run_query(''drop'') ' || chr(125) || chr(125))",
        ),
        ("a\\'b", "('a' || chr(92) || '''b')"),
        ("", "''"),
    ],
)
def test_text_literals_are_quoted_and_jinja_proof(value: str, literal: str) -> None:
    assert compiler.sql_text(value) == literal


def test_other_literals() -> None:
    assert compiler.sql_number(3) == "3"
    assert compiler.sql_number(0.01) == "0.01"
    assert compiler.sql_number(20.0) == "20"
    assert compiler.sql_date(dt.date(2026, 1, 2)) == "date '2026-01-02'"
    with pytest.raises(ValueError):
        compiler.sql_number(float("nan"))
    with pytest.raises(TypeError):
        compiler.sql_number(True)
    with pytest.raises(ValueError):
        compiler.sql_text("a\x00b")
    with pytest.raises(ValueError):
        compiler.ref("persons; drop")


def test_injection_attempt_in_a_catalogue_value_stays_a_literal(tmp_path: Path) -> None:
    folder = tmp_path / "audiences"
    folder.mkdir()
    (folder / "evil.yml").write_text(
        textwrap.dedent(
            """\
            name: Evil
            description: tries
            owner: x
            destinations: []
            rules: {attribute: interest_label, equals: "x'); drop table persons; --"}
            """
        )
    )
    (audience,) = load(folder).audiences
    sql = compiler.audience_sql(audience)
    assert "coalesce(segments.interest_label = 'x''); drop table persons; --', false)" in sql
    assert sql.count("'") % 2 == 0


def test_include_exclude_and_the_model_shape() -> None:
    audience = Audience(
        key="mixed",
        name="Mixed",
        description="d",
        owner="o",
        source_file="audiences/mixed.yml",
        rules=cond("age", "gte", 30),
        include=("b", "c"),
        exclude=("d",),
        destinations=("facebook",),
    )
    sql = compiler.audience_sql(audience)
    assert sql.startswith("-- Generated by `audience audiences compile` from audiences/mixed.yml")
    assert "select * from {{ ref('person_segments') }}" in sql
    assert "included as (\n\n    select person_id from {{ ref('aud_b') }}\n    union\n" in sql
    assert "excluded as (\n\n    select person_id from {{ ref('aud_d') }}\n\n)" in sql
    assert "    select person_id from matched\n    union\n    select person_id from included\n" in sql
    assert sql.rstrip().endswith(
        "from candidates\nwhere not exists (\n"
        "    select 1 from excluded where excluded.person_id = candidates.person_id\n)"
    )
    assert "'mixed'::text as audience_key" in sql
    only_include = compiler.audience_sql(
        Audience("u", "U", "d", "o", "audiences/u.yml", rules=None, include=("b",), destinations=())
    )
    assert "person_segments" not in only_include and "matched" not in only_include


def test_compile_is_deterministic_and_write_removes_deleted_audiences(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    cat = load(catalogue_dir())
    files = compiler.compile_catalogue(cat)
    assert files == compiler.compile_catalogue(load(catalogue_dir()))
    generated = project / compiler.GENERATED_DIR
    generated.mkdir(parents=True)
    (generated / "aud_deleted_one.sql").write_text("select 1\n")
    changes = compiler.write(files, project)
    assert changes.extra == ("models/marts/audiences/generated/aud_deleted_one.sql",)
    assert not (generated / "aud_deleted_one.sql").exists()
    assert not compiler.drift(files, project)
    names = sorted(p.name for p in generated.iterdir())
    assert "aud_hot_prospects.sql" in names and "audience_memberships.sql" in names
    definitions = (generated / "audience_definitions.sql").read_text()
    assert "('young_professionals_idf_30d', 'Young professionals in Île-de-France'" in definitions
    assert (
        "array['facebook', 'linkedin']::text[], false, array[]::text[], null::numeric, null::numeric, 300::integer)"
        in (definitions)
    )


def test_committed_generated_files_equal_a_fresh_compile() -> None:
    files = compiler.compile_catalogue(
        load(catalogue_dir(), point_keys=compiler.point_keys(dbt_project_dir()))
    )
    found = compiler.drift(files, dbt_project_dir())
    assert not found, (
        f"generated audience models are stale ({found}): run `audience audiences compile` and commit"
    )


def test_registry_and_person_segments_docs_agree() -> None:
    import yaml

    doc = yaml.safe_load((dbt_project_dir() / "models/marts/segments/_segments__models.yml").read_text())
    (model,) = [m for m in doc["models"] if m["name"] == "person_segments"]
    assert [c["name"] for c in model["columns"]] == ["person_id", *reg.ATTRIBUTES]


def test_cli_check_exits_2_with_the_message(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "audiences"
    folder.mkdir()
    (folder / "hot_prospects.yml").write_text(
        "name: H\ndescription: d\nowner: o\ndestinations: [facebook]\n"
        "rules:\n  all:\n    - {attribute: age, gte: 18}\n    - {attribute: engagment_tier, equals: high}\n"
    )
    project = tmp_path / "dbt_project"
    assert main(["audiences", "check", "--catalogue", str(folder), "--project", str(project)]) == 2
    err = capsys.readouterr().err
    assert (
        "audiences/hot_prospects.yml: audience 'hot_prospects', rules.all[1].attribute: unknown attribute "
        "'engagment_tier' (did you mean 'engagement_tier'?)" in err
    )

    (folder / "hot_prospects.yml").write_text(
        "name: H\ndescription: d\nowner: o\ndestinations: [facebook]\nrules: {attribute: age, gte: 18}\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert run("check", folder=folder, project_dir=project, out=out, err=err) == 2
    assert "generated audience models are stale (missing: " in err.getvalue()
    assert "models/marts/audiences/generated/aud_hot_prospects.sql" in err.getvalue()
    assert run("compile", folder=folder, project_dir=project, out=out, err=err) == 0
    assert run("check", folder=folder, project_dir=project, out=out, err=err) == 0
    assert run("list", folder=folder, project_dir=project, out=out, err=err) == 0
    assert "hot_prospects" in out.getvalue()
