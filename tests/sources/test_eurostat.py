"""JSON-stat 2.0 decoding (hand-built documents) and the Eurostat connector against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from audience import warehouse
from audience.retry import RetryPolicy
from audience.sources import eurostat
from audience.sources.eurostat import JsonStatError, jsonstat_rows
from sandbox import eurostat as sandbox_eurostat

FAST_RETRY = RetryPolicy(attempts=12, base_delay=0.005, max_delay=0.02, max_retry_after=0.02)
JUNE = date(2026, 6, 15)


def doc(value, status=None, *, index_as_list=False):
    """sex (2) × geo (3) × time (2): 12 cells."""

    def dim(label, cats):
        index = list(cats) if index_as_list else {c: i for i, c in enumerate(cats)}
        return {"label": label, "category": {"index": index, "label": cats}}

    d = {
        "version": "2.0",
        "class": "dataset",
        "id": ["sex", "geo", "time"],
        "size": [2, 3, 2],
        "dimension": {
            "sex": dim("Sex", {"F": "Females", "M": "Males"}),
            "geo": dim("Geo", {"FR101": "Paris", "FR105": "Hauts-de-Seine", "FRK26": "Rhône"}),
            "time": dim("Time", {"2022": "2022", "2023": "2023"}),
        },
        "value": value,
    }
    if status is not None:
        d["status"] = status
    return d


def test_dense_values_give_one_row_per_cell_in_row_major_order():
    rows = list(jsonstat_rows(doc(list(range(12)))))
    assert len(rows) == 12
    # flat index = sex*6 + geo*2 + time
    assert rows[7]["dimensions"] == {"sex": "M", "geo": "FR101", "time": "2023"}
    assert rows[7]["labels"] == {"sex": "Males", "geo": "Paris", "time": "2023"}
    assert [r["value"] for r in rows] == list(range(12))
    assert all(r["status"] is None for r in rows)
    assert list(jsonstat_rows(doc(list(range(12)), index_as_list=True))) == rows


def test_sparse_values_and_status_with_missing_cells():
    value = {"0": 10.5, "5": 11, "11": 99}
    status = {"5": "p", "9": "c"}  # cell 9: a status but no value (confidential)
    rows = {r["index"]: r for r in jsonstat_rows(doc(value, status))}
    assert sorted(rows) == [0, 5, 9, 11]
    assert rows[5]["dimensions"] == {"sex": "F", "geo": "FRK26", "time": "2023"} and rows[5]["status"] == "p"
    assert rows[9]["value"] is None and rows[9]["status"] == "c"
    assert rows[11]["dimensions"] == {"sex": "M", "geo": "FRK26", "time": "2023"}
    assert rows[0]["status"] is None


def test_dense_nulls_are_missing_and_a_status_string_applies_to_every_cell():
    value = [1, None, 3, None, 5, 6, 7, 8, 9, 10, 11, 12]
    rows = list(jsonstat_rows(doc(value, "e")))
    assert len(rows) == 12 and {r["status"] for r in rows} == {"e"}  # every cell flagged, even without value
    rows = list(jsonstat_rows(doc(value)))
    assert [r["index"] for r in rows] == [0, 2, 4, 5, 6, 7, 8, 9, 10, 11]


def test_single_category_without_index_and_flat_index_matches_the_sandbox():
    d = doc([1] * 12)
    d["id"].insert(0, "freq")
    d["size"].insert(0, 1)
    d["dimension"]["freq"] = {"label": "Frequency", "category": {"label": {"A": "Annual"}}}
    assert {r["dimensions"]["freq"] for r in jsonstat_rows(d)} == {"A"}
    assert sandbox_eurostat.flat_index([1, 0, 2, 1], [2, 1, 3, 2]) == 6 + 4 + 1


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(size=[2, 3]), "same length"),
        (lambda d: d.update(value=[1, 2, 3]), "dense value"),
        (lambda d: d.update(value={"12": 1}), "outside"),
        (lambda d: d.update(value={"x": 1}), "not a flat index"),
        (lambda d: d["dimension"].pop("geo"), "dimension"),
        (
            lambda d: d["dimension"]["geo"]["category"].update(index={"FR101": 0, "FR105": 0, "FRK26": 2}),
            "invalid",
        ),
        (lambda d: d.update({"class": "collection"}), "not a dataset"),
    ],
)
def test_malformed_documents_are_refused_with_a_reason(mutate, message):
    d = doc(list(range(12)))
    mutate(d)
    with pytest.raises(JsonStatError, match=message):
        list(jsonstat_rows(d))


# -- the connector against the sandbox ------------------------------------------------------------


@pytest.fixture(scope="module")
def es_sandbox(tmp_path_factory) -> Iterator:
    from sandbox.server import start_background
    from sandbox.world import generate

    world = tmp_path_factory.mktemp("es-world")
    generate(world, contacts=10, events_per_contact=1, seed=1)
    handle = start_background(world, tmp_path_factory.mktemp("es-state"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture()
def es(es_sandbox):
    def reset() -> None:
        for path, body in (
            ("/_sandbox/faults", {"rate": 0}),
            ("/_sandbox/opendata/config", {"corrupt_rate": 0}),
        ):
            assert httpx.post(es_sandbox.url + path, json=body, timeout=10).status_code == 200

    reset()
    yield es_sandbox
    reset()


def settings(url: str, since_year: int = 2022) -> eurostat.EurostatSettings:
    return eurostat.EurostatSettings(url, since_year=since_year, is_sandbox=True, retry=FAST_RETRY)


def expected_cells(url: str, dataset: str, params: dict) -> int:
    d = httpx.get(f"{url}{eurostat.DATA_PATH}/{dataset}", params=params, timeout=30).json()
    return len(d["value"])


def test_full_load_rerun_and_new_window(es, fresh_warehouse):
    s = settings(es.url)
    want = {
        "population_nuts3": expected_cells(
            es.url, "demo_r_pjangrp3", {"geoLevel": "nuts3", "sinceTimePeriod": 2022}
        ),
        "household_income_nuts2": expected_cells(
            es.url, "nama_10r_2hhinc", {"geoLevel": "nuts2", "sinceTimePeriod": 2022}
        ),
        "unemployment_nuts2": expected_cells(
            es.url, "lfst_r_lfu3rt", {"geoLevel": "nuts2", "sinceTimePeriod": 2022}
        ),
    }
    with warehouse.connect() as conn:
        for entity, loader in eurostat.LOADERS.items():
            res = loader(conn, settings=s, today=JUNE)
            assert res.rows_loaded == want[entity] > 0, entity
            assert res.rows_rejected == 0
        row = conn.execute(
            "select payload from raw.eurostat__population_nuts3 where _record_id = 'A|T|NR|TOTAL|FRG01|2023'"
        ).fetchone()[0]
        assert row["labels"]["geo"] == "Loire-Atlantique" and row["value"] > 500_000
        assert row["dataset"] == "demo_r_pjangrp3" and row["status"] is None
        flagged = conn.execute(
            "select count(*) from raw.eurostat__unemployment_nuts2 where payload->>'status' = 'p'"
        ).fetchone()[0]
        assert flagged > 0
        assert {
            r[0]
            for r in conn.execute(
                "select distinct length(payload->'dimensions'->>'geo') from raw.eurostat__household_income_nuts2"
            )
        } == {4}
        # re-run: the dataset's `updated` stamp has not moved: nothing new
        for loader in eurostat.LOADERS.values():
            assert loader(conn, settings=s, today=JUNE).rows_loaded == 0
        # a wider window is a new query: a new snapshot batch
        wider = eurostat.load_household_income_nuts2(conn, since="2019", settings=s, today=JUNE)
        assert wider.rows_loaded > want["household_income_nuts2"]
        years = conn.execute(
            """select min(payload->'dimensions'->>'time') from raw.eurostat__household_income_nuts2
               where _batch_id = %s""",
            (wider.batch_id,),
        ).fetchone()[0]
        assert years == "2019"


def test_injected_faults_at_20_percent_still_load_exactly_the_right_rows(es, fresh_warehouse):
    want = expected_cells(es.url, "lfst_r_lfu3rt", {"geoLevel": "nuts2", "sinceTimePeriod": 2022})
    httpx.post(f"{es.url}/_sandbox/faults", json={"rate": 0.2, "kinds": ["429", "500", "503"], "seed": 2})
    client = eurostat.EurostatClient(settings(es.url))
    with warehouse.connect() as conn:
        results = [
            eurostat.load_unemployment_nuts2(conn, client=client, today=JUNE, full_refresh=True)
            for _ in range(6)
        ]
        n, distinct = conn.execute(
            "select count(*), count(distinct _batch_id || _record_id) from raw.eurostat__unemployment_nuts2"
        ).fetchone()
    client.close()
    assert [r.rows_loaded for r in results] == [want] * 6
    assert n == distinct == 6 * want
    assert client.requests > 6  # some were retried


def test_malformed_cells_land_in_rejects(es, fresh_warehouse):
    httpx.post(f"{es.url}/_sandbox/opendata/config", json={"corrupt_rate": 0.05, "corrupt_seed": 4})
    want = expected_cells(es.url, "demo_r_pjangrp3", {"geoLevel": "nuts3", "sinceTimePeriod": 2024})
    with warehouse.connect() as conn:
        res = eurostat.load_population_nuts3(conn, settings=settings(es.url, 2024), today=JUNE)
        reasons = {r[0] for r in conn.execute("select distinct split_part(reason, ':', 1) from raw.rejects")}
    assert res.rows_rejected > 0 and res.rows_loaded + res.rows_rejected == want
    assert reasons == {"bad_value"}


def test_a_source_that_stays_down_fails_clearly(es, fresh_warehouse):
    httpx.post(f"{es.url}/_sandbox/faults", json={"rate": 1.0, "kinds": ["500"], "seed": 1})
    with warehouse.connect() as conn, pytest.raises(Exception, match="still failing after"):
        eurostat.load_population_nuts3(conn, settings=settings(es.url), today=JUNE)


def test_unknown_dataset_is_a_clear_error(es):
    client = eurostat.EurostatClient(settings(es.url))
    with pytest.raises(RuntimeError, match="HTTP 404"):
        client.dataset(eurostat.Query("x", "no_such_dataset", ()), 2020)
    client.close()
