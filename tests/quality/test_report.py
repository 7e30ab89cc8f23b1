"""The run report: every section from the built warehouse, values escaped, no PII, missing tables tolerated."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from audience.quality import report
from audience.warehouse import WarehouseParams

from . import built
from .report_data import HOSTILE, NEW_RUN, OLD_RUN, create_database, drop_database, load_runs


@pytest.fixture(scope="module")
def built_db() -> Iterator[WarehouseParams]:
    params = create_database(template=built.template())
    try:
        load_runs(params)
        yield params
    finally:
        drop_database(params)


@pytest.fixture(scope="module")
def latest(built_db: WarehouseParams, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reports")
    with psycopg.connect(**built_db.libpq()) as conn:
        path = report.write_report(conn, out_dir=out)
    return path, path.read_text(encoding="utf-8")


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"section {section_id} missing"
    return match.group(1)


def test_every_section_has_its_id_and_heading(latest):
    path, page = latest
    assert path.name == "run_manual__2026-11-01T06_00_00_00_00.html"
    assert (path.parent / "latest.html").read_text(encoding="utf-8") == page
    for section_id, title in report.SECTIONS:
        assert section(page, section_id).startswith(f"<h2>{html.escape(title)}</h2>")
        assert f'href="#{section_id}"' in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script" not in page and "<link" not in page


def test_the_latest_run_fails_with_failed_checks_first(latest):
    _, page = latest
    assert 'data-verdict="FAIL"' in page and "1 critical check(s) failed of 3" in page
    body = section(page, "validation")
    failed = body.index("expect_column_values_to_not_be_null:email_sha256")
    warning = body.index("chi_square:engagement_tier")
    passed = body.index("expect_column_values_to_be_unique:person_id")
    assert failed < warning < passed


def test_an_older_run_can_be_reported_and_passes(built_db, tmp_path):
    with psycopg.connect(**built_db.libpq()) as conn:
        path = report.write_report(conn, OLD_RUN, out_dir=tmp_path)
    page = path.read_text(encoding="utf-8")
    assert path.name == "run_scheduled__2026-10-31T00_00_00_00_00.html"
    assert 'data-verdict="PASS"' in page and NEW_RUN not in page
    assert "email_sha256" not in section(page, "validation")


def test_sections_show_the_warehouse_figures(built_db, latest):
    _, page = latest
    with psycopg.connect(**built_db.libpq()) as conn:
        age = dict(conn.execute("select age_band, count(*) from marts.seg_age_band group by 1").fetchall())
        personas = conn.execute("select count(*) from marts.personas").fetchone()[0]
        auc = conn.execute(
            "select auc_holdout from ml.model_runs order by trained_at desc limit 1"
        ).fetchone()[0]
        clusters = conn.execute("select cluster_name from ml.interest_clusters").fetchall()
        kpi_types = {r[0] for r in conn.execute("select distinct segment_type from marts.segment_kpis")}
    sizes = section(page, "sizes")
    assert f"{personas} personas." in sizes
    assert f">{age['25-34']:,}".replace(",", "\u202f") in sizes
    distributions = section(page, "distributions")
    assert distributions.count("<svg") == 2 and f"{auc:.3f}" in distributions
    clusters_html = section(page, "clusters")
    assert 1000 <= clusters_html.count("<circle") and clusters_html.count('r="2.6"') <= report.MAP_SAMPLE
    for (name,) in clusters:
        assert html.escape(name) in clusters_html
    assert "chosen: k = " in clusters_html
    stability = section(page, "stability")
    assert "3 run(s)" in stability and "engagement_tier" in stability and "polyline" in stability
    kpis = section(page, "kpis")
    assert all(f"<h3>{t}</h3>" in kpis for t in kpi_types)
    sync = section(page, "sync")
    assert "3\u202f262" in sync and "never synced" in sync and "unchanged" in sync
    assert sync.count(">failed<") == 0  # the failed run is not the last one


def test_hostile_values_are_escaped(latest):
    _, page = latest
    assert HOSTILE not in page
    assert "<script" not in page and "<img" not in page and 'onerror="' not in page
    assert html.escape(HOSTILE) in section(page, "sync")  # an audience name
    assert html.escape(HOSTILE) in section(page, "validation")  # a check message


def test_no_personal_data(built_db, latest):
    _, page = latest
    with psycopg.connect(**built_db.libpq()) as conn:
        rows = conn.execute(
            "select email, phone_e164_digits, last_name from marts.persons "
            "where email is not null and phone_e164_digits is not null and length(last_name) > 4 limit 300"
        ).fetchall()
    assert rows
    lowered = page.lower()
    for email, phone, last_name in rows:
        assert email.lower() not in lowered and phone not in page
        assert f">{html.escape(last_name)}<" not in page


def test_the_map_is_deterministic(built_db, tmp_path):
    pages = []
    for i in range(2):
        with psycopg.connect(**built_db.libpq()) as conn:
            page = report.write_report(conn, NEW_RUN, out_dir=tmp_path / str(i)).read_text(encoding="utf-8")
        pages.append(section(page, "clusters"))
    assert pages[0] == pages[1]


def test_a_connection_in_a_failed_transaction_still_reports(built_db, tmp_path):
    with psycopg.connect(**built_db.libpq()) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from marts.no_such_table")
        page = report.write_report(conn, out_dir=tmp_path).read_text(encoding="utf-8")
    assert 'data-verdict="FAIL"' in page and "Not available" not in page


@pytest.fixture
def empty_db() -> Iterator[WarehouseParams]:
    params = create_database()
    try:
        yield params
    finally:
        drop_database(params)


def test_an_empty_warehouse_gives_a_report_of_unavailable_sections(empty_db, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIENCE_LOCAL_DIR", str(tmp_path))
    with psycopg.connect(**empty_db.libpq(), autocommit=True) as conn:
        path = report.write_report(conn)
    assert path.parent == tmp_path / "reports" and path.name.startswith("run_adhoc_")
    page = path.read_text(encoding="utf-8")
    assert 'data-verdict="NO VERDICT"' in page
    for section_id in ("sizes", "distributions", "clusters", "kpis", "sync"):
        assert "Not available" in section(page, section_id), section_id
    assert "No previous run yet" in section(page, "stability")


def test_empty_ops_tables(empty_db, tmp_path):
    from audience.destinations.sync import ensure_sync_tables
    from audience.quality.validation_runs import ensure_validation_runs_table

    from .report_data import STABILITY_DDL

    with psycopg.connect(**empty_db.libpq()) as conn:
        ensure_validation_runs_table(conn)
        conn.execute(STABILITY_DDL)
        conn.commit()
        ensure_sync_tables(conn)
        page = report.write_report(conn, "run-1", out_dir=tmp_path).read_text(encoding="utf-8")
    assert 'data-verdict="NO VERDICT"' in page and "The gate recorded no check for run run-1" in page
    assert "No previous run yet" in section(page, "stability")
    assert "Not available" in section(page, "sync")


def test_embeddings_stored_as_real_arrays(empty_db, tmp_path):
    with psycopg.connect(**empty_db.libpq()) as conn:
        conn.execute("create schema ml")
        conn.execute(
            "create table ml.author_embeddings (run_id text, platform text, author_id text, embedding real[], "
            "created_at timestamptz default now())"
        )
        conn.execute(
            "create table ml.author_clusters (run_id text, platform text, author_id text, cluster_id int)"
        )
        conn.execute(
            "create table ml.interest_clusters (run_id text, cluster_id int, cluster_name text, size int)"
        )
        conn.execute(
            "insert into ml.author_embeddings (run_id, platform, author_id, embedding) "
            "select 'r', 'fb', 'a' || i, array[(i % 2) * 5 + random(), random(), random()]::real[] "
            "from generate_series(1, 40) i"
        )
        conn.execute(
            "insert into ml.author_clusters select 'r', 'fb', 'a' || i, i % 2 from generate_series(1, 39) i"
        )
        conn.execute(
            "insert into ml.interest_clusters values ('r', 0, 'vins / <b>huile</b>', 20), ('r', 1, 'trail', 19)"
        )
        conn.commit()
        page = report.write_report(conn, out_dir=tmp_path).read_text(encoding="utf-8")
    clusters = section(page, "clusters")
    assert clusters.count('r="2.6"') == 40
    assert "vins / &lt;b&gt;huile&lt;/b&gt;" in clusters and "trail" in clusters and "no cluster" in clusters
    assert "dimension 3" in clusters


def test_parse_vector_reads_both_text_forms():
    assert report.parse_vector("[1,2.5,-3e-1]") == [1.0, 2.5, -0.3]
    assert report.parse_vector("{1,2.5,-0.3}") == [1.0, 2.5, -0.3]
    assert report.parse_vector("[]") == []


def test_projection_separates_two_groups():
    vectors = [[0.0, 0.0, float(i % 3) * 0.01] for i in range(10)] + [[5.0, 5.0, 0.0] for _ in range(10)]
    coords, share = report.project_2d(vectors)
    assert share[0] > 0.99
    assert max(c[0] for c in coords[:10]) < min(c[0] for c in coords[10:]) or max(
        c[0] for c in coords[10:]
    ) < min(c[0] for c in coords[:10])
