"""The INSEE connector (geography, Melodi, La Poste postal codes) against the sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from audience import warehouse
from audience.ratelimit import SlidingWindow
from audience.retry import RetryPolicy
from audience.sources import eurostat, insee
from sandbox import communes as communes_table
from sandbox import insee as sandbox_insee

FAST_RETRY = RetryPolicy(attempts=12, base_delay=0.005, max_delay=0.02, max_retry_after=0.02)
JUNE, JULY = date(2026, 6, 15), date(2026, 7, 2)


@pytest.fixture(scope="module")
def opendata_sandbox(tmp_path_factory) -> Iterator:
    """One sandbox per module (the open-data twins need no world beyond communes.csv)."""
    from sandbox.server import start_background
    from sandbox.world import generate

    world = tmp_path_factory.mktemp("od-world")
    generate(world, contacts=10, events_per_contact=1, seed=1)
    handle = start_background(world, tmp_path_factory.mktemp("od-state"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture()
def od(opendata_sandbox):
    """The module's sandbox with no faults, no corruption and Melodi's limit off (restored afterwards)."""

    def reset() -> None:
        for path, body in (
            ("/_sandbox/faults", {"rate": 0}),
            ("/_sandbox/opendata/config", {"melodi_per_minute": 0, "corrupt_rate": 0}),
        ):
            assert httpx.post(opendata_sandbox.url + path, json=body, timeout=10).status_code == 200

    reset()
    yield opendata_sandbox
    reset()


def settings(url: str, **kw) -> insee.InseeSettings:
    return insee.InseeSettings(
        url,
        url + insee.SANDBOX_POSTAL_CODES_PATH,
        requests_per_minute=100_000,
        melodi_page_size=kw.pop("page_size", 25),
        is_sandbox=True,
        retry=FAST_RETRY,
        **kw,
    )


def table_count(conn, table: str) -> int:
    return conn.execute(f"select count(*) from raw.{table}").fetchone()[0]


def latest(table: str) -> str:
    """How staging reads a snapshot table: the rows of its latest batch."""
    return f"(select * from raw.{table} where _batch_id = (select _batch_id from raw.{table} order by _loaded_at desc limit 1))"


# -- rate limiter (injected clock: no sleeping) ----------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_sliding_window_never_exceeds_30_calls_in_any_minute_and_keeps_the_full_rate():
    clock = FakeClock()
    window = SlidingWindow(30, 60.0, margin=1.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(200):
        window.acquire()
        times.append(clock.now)
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 60.0)
        assert in_window <= 30, f"{in_window} calls in the minute from t={t}"
    # the full rate: 30 calls per 61 s (window + margin), the first 30 at once
    assert times[29] == 0.0
    assert times[30] == pytest.approx(61.0)
    assert times[-1] == pytest.approx((200 // 30) * 61.0)
    assert window.waited == pytest.approx(times[-1])


def test_sliding_window_counts_calls_spread_out_and_rejects_bad_limits():
    clock = FakeClock()
    window = SlidingWindow(3, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    assert window.try_acquire() == 0
    clock.now = 4.0
    assert [window.try_acquire() for _ in range(2)] == [0, 0]
    assert window.try_acquire() == pytest.approx(6.0)  # the call at t=0 leaves the window at t=10
    clock.now = 10.0
    assert window.try_acquire() == 0
    assert window.try_acquire() == pytest.approx(4.0)  # then the two at t=4
    clock.now += 1000  # a long pause frees the whole window, never more
    assert [window.try_acquire() for _ in range(4)][-1] > 0
    for limit, span in ((0, 60.0), (2.5, 60.0), (True, 60.0), (30, 0.0)):
        with pytest.raises(ValueError, match="rate limit"):
            SlidingWindow(limit, span)


def test_melodi_client_paces_requests_through_the_limiter(od, fresh_warehouse):
    clock = FakeClock()
    limiter = SlidingWindow(30, 60.0, clock=clock, sleep=clock.sleep)
    client = insee.InseeClient(settings(od.url, departements=("44", "75", "13", "69")), limiter=limiter)
    with warehouse.connect() as conn:
        res = insee.load_income(conn, client=client, today=JUNE)
    client.close()
    geo = sandbox_insee.geography()
    assert res.rows_loaded == 2 * sum(len(geo.communes_of(d)) for d in ("44", "75", "13", "69"))
    assert client.requests == 4
    assert clock.sleeps == []  # 4 requests fit in the window


def test_sandbox_melodi_answers_429_with_retry_after_past_30_per_minute(od):
    assert httpx.post(od.url + "/_sandbox/opendata/config", json={"melodi_per_minute": 30}).status_code == 200
    statuses = [
        httpx.get(f"{od.url}/melodi/data/DS_FILOSOFI_CC", params={"GEO": "2024-COM-44109"}) for _ in range(31)
    ]
    assert [r.status_code for r in statuses[:30]] == [200] * 30
    assert statuses[30].status_code == 429
    assert 1 <= int(statuses[30].headers["Retry-After"]) <= 60


# -- geography and postal codes -------------------------------------------------------------------


def test_full_load_of_the_geography_and_rerun_loads_nothing(od, fresh_warehouse):
    s = settings(od.url)
    rows = communes_table.load()
    with warehouse.connect() as conn:
        regions = insee.load_regions(conn, settings=s, today=JUNE)
        deps = insee.load_departements(conn, settings=s, today=JUNE)
        communes = insee.load_communes(conn, settings=s, today=JUNE)
        postal = insee.load_postal_codes(conn, settings=s, today=JUNE)
        assert regions.rows_loaded == len({r.region_code for r in rows})
        assert deps.rows_loaded == len({r.departement_code for r in rows})
        # every commune of the table, plus Paris, Lyon and Marseille above their arrondissements
        codes = {r[0] for r in conn.execute("select _record_id from raw.insee__communes")}
        assert codes == {r.insee_code for r in rows} | {"75056", "69123", "13055"}
        assert communes.rows_loaded == len(codes)
        assert postal.rows_loaded == len(sandbox_insee.postal_code_rows())
        dep44 = conn.execute(
            "select payload from raw.insee__departements where _record_id = '44'"
        ).fetchone()[0]
        assert dep44["intitule"] == "Loire-Atlantique" and dep44["_context"]["region"] == "52"
        arr = conn.execute("select payload from raw.insee__communes where _record_id = '69381'").fetchone()[0]
        assert arr["type"] == "ArrondissementMunicipal" and arr["_context"]["commune"] == "69123"
        assert {
            "code",
            "uri",
            "type",
            "dateCreation",
            "intituleSansArticle",
            "typeArticle",
            "intitule",
        } <= set(arr)
        # same month, same version: nothing new
        again = [
            insee.load_regions(conn, settings=s, today=JUNE),
            insee.load_communes(conn, settings=s, today=JUNE),
            insee.load_postal_codes(conn, settings=s, today=JUNE),
        ]
        assert [r.rows_loaded for r in again] == [0, 0, 0]
        assert table_count(conn, "insee__communes") == len(codes)
        # staging still sees the last non-empty snapshot
        assert conn.execute(f"select count(*) from {latest('insee__communes')} t").fetchone()[0] == len(codes)


def test_next_month_takes_a_new_snapshot_and_staging_reads_the_latest(od, fresh_warehouse):
    s = settings(od.url, geo_date="2026-01-01")
    with warehouse.connect() as conn:
        first = insee.load_regions(conn, settings=s, today=JUNE)
        second = insee.load_regions(conn, settings=s, today=JULY)
        assert second.rows_loaded == first.rows_loaded > 0
        assert table_count(conn, "insee__regions") == 2 * first.rows_loaded  # raw is append-only
        batch = conn.execute(f"select distinct _batch_id from {latest('insee__regions')} t").fetchall()
        assert batch == [(second.batch_id,)]
        # a full refresh within the month takes one more
        assert (
            insee.load_regions(conn, settings=s, today=JULY, full_refresh=True).rows_loaded
            == first.rows_loaded
        )


def test_an_older_geography_date_leaves_out_communes_created_since(od, fresh_warehouse):
    with warehouse.connect() as conn:
        insee.load_communes(conn, settings=settings(od.url), since="2018-06-01", today=JUNE)
        codes = {r[0] for r in conn.execute("select _record_id from raw.insee__communes")}
    assert "74010" in codes and "91228" not in codes  # Évry-Courcouronnes was created in 2019


# -- Melodi ---------------------------------------------------------------------------------------


def test_population_and_income_per_commune_with_paging(od, fresh_warehouse):
    s = settings(od.url, page_size=7)
    geo = sandbox_insee.geography()
    n_communes = len(geo.of_kind("Commune", None))
    with warehouse.connect() as conn:
        pop = insee.load_population(conn, settings=s, today=JUNE)
        inc = insee.load_income(conn, settings=s, today=JUNE)
        assert pop.rows_loaded == n_communes * (6 + 21)  # 2 years × 3 legal measures; 3 sexes × 7 ages
        assert inc.rows_loaded == n_communes * 2
        assert pop.rows_rejected == inc.rows_rejected == 0
        nantes = conn.execute(
            """select (payload->'measures'->'OBS_VALUE_NIVEAU'->>'value')::float from raw.insee__population
               where payload->'dimensions'->>'GEO' = '2024-COM-44109' and payload->'dimensions'->>'SEX' = '_T'
               and payload->'dimensions'->>'AGE' = '_T'"""
        ).fetchone()[0]
        assert nantes == next(c.population for c in communes_table.load() if c.insee_code == "44109")
        parts = conn.execute(
            """select sum((payload->'measures'->'OBS_VALUE_NIVEAU'->>'value')::float) from raw.insee__population
               where payload->'dimensions'->>'GEO' = '2024-COM-44109' and payload->'dimensions'->>'SEX' = '_T'
               and payload->'dimensions'->>'AGE' <> '_T'"""
        ).fetchone()[0]
        assert parts == nantes  # the age groups add up
        med = conn.execute(
            """select min((payload->'measures'->'OBS_VALUE_NIVEAU'->>'value')::float),
                      max((payload->'measures'->'OBS_VALUE_NIVEAU'->>'value')::float) from raw.insee__income
               where payload->'dimensions'->>'FILOSOFI_MEASURE' = 'MED_SL'"""
        ).fetchone()
        assert 15_000 < med[0] < med[1] < 30_000
        assert insee.load_income(conn, settings=s, today=JUNE).rows_loaded == 0
        assert table_count(conn, "insee__income") == n_communes * 2


def test_injected_faults_at_20_percent_still_load_exactly_the_right_rows(od, fresh_warehouse):
    r = httpx.post(f"{od.url}/_sandbox/faults", json={"rate": 0.2, "kinds": ["429", "500", "503"], "seed": 5})
    assert r.status_code == 200
    s = settings(od.url, page_size=50)
    n_communes = len(sandbox_insee.geography().of_kind("Commune", None))
    with warehouse.connect() as conn:
        geo = insee.load_communes(conn, settings=s, today=JUNE)
        inc = insee.load_income(conn, settings=s, today=JUNE)
        postal = insee.load_postal_codes(conn, settings=s, today=JUNE)
        for table in ("insee__communes", "insee__income", "insee__postal_codes"):
            n, distinct = conn.execute(
                f"select count(*), count(distinct _record_id) from raw.{table}"
            ).fetchone()
            assert n == distinct
    assert inc.rows_loaded == n_communes * 2
    n_arrondissements = len(sandbox_insee.geography().of_kind("ArrondissementMunicipal", None))
    assert geo.rows_loaded == n_communes + n_arrondissements
    assert postal.rows_loaded == len(sandbox_insee.postal_code_rows())
    stats = httpx.get(f"{od.url}/_sandbox/stats").json()
    assert sum(stats["faults_injected"].values()) > 0


def test_a_source_that_stays_down_fails_clearly_and_loads_nothing(od, fresh_warehouse):
    httpx.post(f"{od.url}/_sandbox/faults", json={"rate": 1.0, "kinds": ["503"], "seed": 1})
    s = settings(od.url)
    with warehouse.connect() as conn:
        with pytest.raises(Exception, match="still failing after"):
            insee.load_income(conn, settings=s, today=JUNE)
        warehouse.ensure_schemas(conn)
        assert (
            conn.execute("select to_regclass('raw.insee__income')").fetchone()[0] is None
            or table_count(conn, "insee__income") == 0
        )
        assert conn.execute("select count(*) from ops.ingest_state where source = 'insee'").fetchone()[0] == 0


def test_malformed_records_land_in_rejects(od, fresh_warehouse):
    r = httpx.post(f"{od.url}/_sandbox/opendata/config", json={"corrupt_rate": 0.1, "corrupt_seed": 3})
    assert r.status_code == 200
    # the départements are named in the settings: a corrupt département item must not hide its communes here
    s = settings(od.url, departements=tuple(sorted({c.departement_code for c in communes_table.load()})))
    n_communes = len(sandbox_insee.geography().of_kind("Commune", None))
    with warehouse.connect() as conn:
        inc = insee.load_income(conn, settings=s, today=JUNE)
        postal = insee.load_postal_codes(conn, settings=s, today=JUNE)
        com = insee.load_communes(conn, settings=s, today=JUNE)
        reasons = dict(
            conn.execute(
                "select entity, string_agg(distinct split_part(reason, ':', 1), ',') from raw.rejects group by entity"
            ).fetchall()
        )
    assert inc.rows_rejected > 0 and inc.rows_loaded + inc.rows_rejected == n_communes * 2
    assert postal.rows_rejected > 0
    assert postal.rows_loaded + postal.rows_rejected == len(sandbox_insee.postal_code_rows())
    assert com.rows_rejected > 0
    assert set(reasons) == {"income", "postal_codes", "communes"}
    assert set(reasons["income"].split(",")) <= {"missing_id", "bad_value"}
    assert json.dumps(inc.summary())  # counts only, serialisable for XComs


def test_postal_code_file_parsing_handles_bom_latin1_and_bad_rows():
    header = "#Code_commune_INSEE;Nom_de_la_commune;Code_postal;Libellé_d_acheminement;Ligne_5\n"
    body = "44109;NANTES;44000;NANTES;\n44109;NANTES;44000;NANTES;\n2A004;AJACCIO;20000;AJACCIO;\nZZ;X;1;Y;\n1;2\n"
    for raw in ((header + body).encode("utf-8-sig"), (header + body).encode("latin-1")):
        items = list(insee.postal_code_records(raw))
        recs = [i for i in items if isinstance(i, insee.Record)]
        rejects = [i for i in items if isinstance(i, insee.Reject)]
        assert [r.record_id for r in recs] == ["44109|44000|NANTES|", "2A004|20000|AJACCIO|"]
        assert sorted(r.reason.split(":")[0] for r in rejects) == ["bad_code", "bad_row"]
    with pytest.raises(RuntimeError, match="unexpected header"):
        list(insee.postal_code_records(b"a;b;c\n1;2;3\n"))


# -- postal code -> commune -> departement -> region -> NUTS 3 -------------------------------------

RESOLVE_SQL = """
with pc as (select payload from {postal}),
     com as (select _record_id as code, payload from {communes}),
     dep as (select _record_id as code, payload from {deps}),
     reg as (select _record_id as code, payload from {regions}),
     nuts3 as (select distinct payload->'dimensions'->>'geo' as code, payload->'labels'->>'geo' as label
               from {nuts} where length(payload->'dimensions'->>'geo') = 5)
select pc.payload->>'Code_postal' as postal_code,
       com.code as insee_code,
       coalesce(com.payload->'_context'->>'commune', com.code) as commune_code,
       dep.code as departement_code,
       reg.code as region_code,
       nuts3.code as nuts3
from pc
join com on com.code = pc.payload->>'Code_commune_INSEE'
join dep on dep.code = case when com.code like '97%%' then left(com.code, 3) else left(com.code, 2) end
join reg on reg.code = dep.payload->'_context'->>'region'
join nuts3 on lower(translate(nuts3.label, '’', '''')) = lower(dep.payload->>'intitule')
"""


def test_postal_code_resolves_to_commune_departement_region_and_nuts3(od, fresh_warehouse):
    s = settings(od.url)
    es = eurostat.EurostatSettings(od.url, since_year=2022, is_sandbox=True, retry=FAST_RETRY)
    with warehouse.connect() as conn:
        for load in (
            insee.load_regions,
            insee.load_departements,
            insee.load_communes,
            insee.load_postal_codes,
        ):
            load(conn, settings=s, today=JUNE)
        eurostat.load_population_nuts3(conn, settings=es, today=JUNE)
        sql = RESOLVE_SQL.format(
            postal=latest("insee__postal_codes"),
            communes=latest("insee__communes"),
            deps=latest("insee__departements"),
            regions=latest("insee__regions"),
            nuts=latest("eurostat__population_nuts3"),
        )
        got = {(r[0], r[1]): r[2:] for r in conn.execute(sql)}
    for c in communes_table.load():
        key = (c.postal_code, c.insee_code)
        assert key in got, f"{c.postal_code} / {c.insee_code} does not resolve"
        _, dep, reg, nuts3 = got[key]
        assert (dep, reg, nuts3) == (c.departement_code, c.region_code, c.nuts3), key
    # and every postal-code row of the file resolves, not only the table's main codes
    assert len(got) == len(
        {(r["Code_postal"], r["Code_commune_INSEE"]) for r in sandbox_insee.postal_code_rows()}
    )


def test_insee_settings_from_the_connection(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_INSEE",
        json.dumps(
            {
                "conn_type": "http",
                "host": "https://api.insee.fr",
                "extra": {"requests_per_minute": 20, "departements": "44,2A", "geo_date": "2026-01-01"},
            }
        ),
    )
    s = insee.InseeSettings.resolve()
    assert (s.base_url, s.requests_per_minute, s.departements, s.is_sandbox) == (
        "https://api.insee.fr",
        20,
        ("44", "2A"),
        False,
    )
    assert s.postal_codes_url == insee.DEFAULT_POSTAL_CODES_URL
    monkeypatch.setenv(
        "AIRFLOW_CONN_INSEE", json.dumps({"conn_type": "http", "extra": {"departements": "4x"}})
    )
    with pytest.raises(Exception, match="departements"):
        insee.InseeSettings.resolve()
