"""Stand-ins for the marts the audience models read, and a tiny renderer for dbt model files.

The segment marts (person_demographics, person_funnel, ...) are built by other parts of the
project; these tables have their contract columns so the audience models (person_segments, the
generated aud_* models, audience_members) can run as they are written, without dbt: each model
file is rendered with Jinja (``ref`` -> a schema-qualified table, ``as_of_date``, ``var``) and
executed as ``create table ... as``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import psycopg

AS_OF = dt.date(2026, 11, 1)

STANDIN_DDL = """
create schema standin;
create table standin.persons (
    person_id text primary key, age int, gender text, language text, country_code text, source_count int,
    has_marketing_consent boolean not null, is_erasure_requested boolean not null
);
create table standin.int_persons__hashed (
    person_id text primary key, extern_id text, email_sha256 text, phone_sha256 text, fn_sha256 text,
    ln_sha256 text, ct_sha256 text, zip_sha256 text, country_sha256 text, doby_sha256 text, gen_sha256 text
);
create table standin.person_demographics (
    person_id text primary key, age int, age_band text, is_birth_date_invalid boolean, gender text,
    language text, language_source text, commune_code text, commune_name text, departement_code text,
    region_code text, region_name text, nuts3_code text, nuts2_code text, urban_class text,
    commune_income_decile int, region_unemployment_rate numeric, region_household_income_eur numeric
);
create table standin.person_funnel (
    person_id text primary key,
    visits_7d int, visits_30d int, visits_90d int, product_views_7d int, product_views_30d int,
    product_views_90d int, add_to_carts_7d int, add_to_carts_30d int, add_to_carts_90d int,
    checkouts_7d int, checkouts_30d int, checkouts_90d int, purchases_7d int, purchases_30d int,
    purchases_90d int, abandons_7d int, abandons_30d int, abandons_90d int,
    last_event_at timestamptz, days_since_last_event int
);
create table standin.person_engagement (person_id text primary key, engagement_score numeric, engagement_tier text);
create table standin.person_rfm (
    person_id text primary key, recency_days int, frequency int, monetary_eur numeric, r_score int, f_score int,
    m_score int, rfm_segment text, clv_eur numeric
);
create table standin.person_next_action (
    person_id text primary key, last_state text, next_purchase_probability numeric
);
create table standin.person_propensity (
    person_id text primary key, purchase_propensity numeric, propensity_decile int, model_run_id text
);
create table standin.person_psychographics (
    person_id text primary key, has_text boolean, interest_cluster_id int, interest_cluster_name text,
    interest_label text, comment_count int, comment_language text
);
create table standin.person_distances (person_id text, point_key text, distance_km numeric);
create table standin.int_web_events__attributed (
    event_id text primary key, person_id text, anonymous_id text, event_name text, page_path text,
    event_at timestamptz, value_eur numeric
);
"""

STANDIN_REFS = {
    name: f"standin.{name}"
    for name in (
        "persons",
        "int_persons__hashed",
        "person_demographics",
        "person_funnel",
        "person_engagement",
        "person_rfm",
        "person_next_action",
        "person_propensity",
        "person_psychographics",
        "person_distances",
        "int_web_events__attributed",
    )
}


@dataclass
class Person:
    """A hand-made person; events are (event_name, page_path, 'YYYY-MM-DD', value_eur)."""

    person_id: str
    age: int | None = 40
    gender: str | None = None
    consent: bool = True
    erased: bool = False
    reachable: bool = True
    region_code: str | None = None
    interest_label: str | None = None
    comment_count: int = 0
    propensity_decile: int | None = None
    recency_days: int | None = None
    events: list[tuple[str, str, str, float | None]] = field(default_factory=list)
    distances: list[tuple[str, float]] = field(default_factory=list)

    def last_event_on(self) -> dt.date | None:
        return max((dt.date.fromisoformat(e[2]) for e in self.events), default=None)


def load_people(conn: psycopg.Connection, people: list[Person]) -> None:
    conn.execute(STANDIN_DDL)
    sha = "a" * 64
    with conn.cursor() as cur:
        for p in people:
            pid = p.person_id
            cur.execute(
                "insert into standin.persons values (%s, %s, %s, 'fr', 'FR', 1, %s, %s)",
                (pid, p.age, p.gender, p.consent, p.erased),
            )
            email = sha if p.reachable else ""
            cur.execute(
                "insert into standin.int_persons__hashed values (%s, %s, %s, '', '', '', '', '', '', '', '')",
                (pid, pid, email),
            )
            cur.execute(
                "insert into standin.person_demographics (person_id, age, gender, language, region_code) "
                "values (%s, %s, %s, 'fr', %s)",
                (pid, p.age, p.gender, p.region_code),
            )
            last = p.last_event_on()
            if last is not None:
                cur.execute(
                    "insert into standin.person_funnel (person_id, visits_90d, last_event_at, days_since_last_event) "
                    "values (%s, %s, %s, %s)",
                    (pid, len(p.events), dt.datetime.combine(last, dt.time(12), dt.UTC), (AS_OF - last).days),
                )
            if p.recency_days is not None:
                cur.execute(
                    "insert into standin.person_rfm (person_id, recency_days, frequency) values (%s, %s, 1)",
                    (pid, p.recency_days),
                )
            if p.propensity_decile is not None:
                cur.execute(
                    "insert into standin.person_propensity values (%s, %s, %s, 'run-1')",
                    (pid, p.propensity_decile / 10, p.propensity_decile),
                )
            if p.interest_label is not None or p.comment_count:
                cur.execute(
                    "insert into standin.person_psychographics (person_id, has_text, interest_label, comment_count) "
                    "values (%s, true, %s, %s)",
                    (pid, p.interest_label, p.comment_count),
                )
            for i, (name, path, day, value) in enumerate(p.events):
                at = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), dt.UTC)
                cur.execute(
                    "insert into standin.int_web_events__attributed values (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        f"{pid}-{i}",
                        pid,
                        f"anon-{pid}",
                        name,
                        path,
                        at,
                        value,
                    ),
                )
            for point, km in p.distances:
                cur.execute("insert into standin.person_distances values (%s, %s, %s)", (pid, point, km))
        # anonymous events (no person) must never match anyone
        cur.execute(
            "insert into standin.int_web_events__attributed values "
            "('anon-1', null, 'anon-x', 'Purchase', '/checkout', %s, 10)",
            (dt.datetime(2026, 10, 30, 12, tzinfo=dt.UTC),),
        )


def render(sql: str, refs: dict[str, str], variables: dict[str, object] | None = None) -> str:
    """A dbt model's SQL with ``ref``, ``as_of_date`` and ``var`` filled in (no dbt involved)."""
    variables = variables or {}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - SQL, not HTML

    def ref(name: str) -> str:
        if name not in refs:
            raise KeyError(f"the test has no stand-in for ref('{name}')")
        return refs[name]

    def var(name: str, default: object = None) -> object:
        return variables.get(name, default)

    return env.from_string(sql).render(ref=ref, var=var, as_of_date=lambda: f"date '{AS_OF.isoformat()}'")


def create_table(conn: psycopg.Connection, relation: str, sql: str) -> None:
    conn.execute(f"create table {relation} as\n{sql}")


def model_file(project_dir: Path, relative: str) -> str:
    return (project_dir / relative).read_text(encoding="utf-8")
