"""The demographic marts built by dbt on a fresh database holding a few hand-written raw rows.

A contact typed with postal code 69003 must resolve through La Poste's table to the Lyon 3e
arrondissement (69383), its commune Lyon (69123), département 69, région 84, NUTS-3 FRK26, and
lie a few kilometres from the seeded Lyon shop; a German contact has no French geography.
Only the models (and seeds) these marts need are built, without data tests (the unit tests and
data tests run in tests/dbt/test_dbt_build.py's full build).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from audience import warehouse

pytestmark = pytest.mark.dbt

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
RAW_COLUMNS = ["_batch_id", "_loaded_at", "_record_id", "_updated_at", "payload"]
LOADED_AT = dt.datetime(2026, 10, 1, 3, 0, tzinfo=dt.UTC)


def _contact(contact_id: str, zip_code: str, city: str, country: str) -> dict[str, Any]:
    return {
        "id": contact_id,
        "properties": {
            "email": f"c{contact_id}@example.test",
            "date_of_birth": "1990-05-17",
            "gender": "F",
            "zip": zip_code,
            "city": city,
            "country": country,
            "hs_language": "",
            "marketing_consent": "true",
        },
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2026-09-01T00:00:00.000Z",
        "archived": False,
    }


def _melodi(dataset: str, commune: str, measure_key: str, measure: str, value: float) -> dict[str, Any]:
    return {
        "_context": {"dataset": dataset},
        "measures": {"OBS_VALUE_NIVEAU": {"value": value}},
        "dimensions": {
            "GEO": f"2024-COM-{commune}",
            "FREQ": "A",
            "TIME_PERIOD": "2021",
            measure_key: measure,
        },
    }


def _eurostat(dimensions: dict[str, str], value: float) -> dict[str, Any]:
    return {"value": value, "status": None, "dimensions": dimensions}


RAW: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "raw.hubspot__contacts": [
        ("1", _contact("1", "69003", "Lyon", "France")),
        ("2", _contact("2", "10115", "Berlin", "Deutschland")),
    ],
    "raw.insee__regions": [("84", {"code": "84", "intitule": "Auvergne-Rhône-Alpes"})],
    "raw.insee__departements": [
        ("69", {"code": "69", "intitule": "Rhône", "_context": {"region": "84"}}),
    ],
    "raw.insee__communes": [
        ("69123", {"code": "69123", "intitule": "Lyon", "type": "Commune"}),
        (
            "69383",
            {
                "code": "69383",
                "intitule": "Lyon 3e Arrondissement",
                "type": "ArrondissementMunicipal",
                "_context": {"commune": "69123"},
            },
        ),
    ],
    "raw.insee__postal_codes": [
        (
            "69383|69003",
            {
                "Code_postal": "69003",
                "Code_commune_INSEE": "69383",
                "Nom_de_la_commune": "LYON 03",
                "Ligne_5": "",
            },
        ),
    ],
    "raw.insee__population": [
        ("p1", _melodi("DS_POPULATIONS_REFERENCE", "69123", "POPREF_MEASURE", "PMUN", 522250.0)),
    ],
    "raw.insee__income": [
        ("i1", _melodi("DS_FILOSOFI_CC", "69123", "FILOSOFI_MEASURE", "MED_SL", 24670.0)),
    ],
    "raw.eurostat__unemployment_nuts2": [
        (
            "u1",
            _eurostat(
                {
                    "geo": "FRK2",
                    "sex": "T",
                    "age": "Y15-74",
                    "isced11": "TOTAL",
                    "unit": "PC",
                    "time": "2024",
                },
                7.1,
            ),
        ),
    ],
    "raw.eurostat__household_income_nuts2": [
        (
            "h1",
            _eurostat(
                {"geo": "FRK2", "na_item": "B6N", "direct": "BAL", "unit": "EUR_HAB", "time": "2022"}, 21850.0
            ),
        ),
    ],
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[psycopg.Connection]:
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - heavy import, only for this module

    params = warehouse.params()
    dbname = f"audience_test_demographics_{dt.datetime.now(dt.UTC):%H%M%S%f}"
    test_params = warehouse.WarehouseParams(params.host, params.port, params.user, params.password, dbname)
    with psycopg.connect(**params.libpq("postgres"), autocommit=True) as admin:
        admin.execute(f'create database "{dbname}"')
    try:
        with psycopg.connect(**test_params.libpq()) as conn:
            warehouse.ensure_schemas(conn)
            for table, rows in RAW.items():
                warehouse.copy_rows(
                    conn,
                    table,
                    RAW_COLUMNS,
                    (("batch-1", LOADED_AT, record_id, None, payload) for record_id, payload in rows),
                )
            conn.commit()
        work = tmp_path_factory.mktemp("dbt-demographics")
        with pytest.MonkeyPatch.context() as mp:
            for key, value in test_params.env().items():
                mp.setenv(key, value)
            result = dbtRunner().invoke(
                [
                    "--quiet",
                    "--no-use-colors",
                    "build",
                    "--project-dir",
                    str(PROJECT_DIR),
                    "--profiles-dir",
                    str(PROJECT_DIR),
                    "--target-path",
                    str(work / "target"),
                    "--log-path",
                    str(work / "logs"),
                    "--select",
                    "+person_demographics",
                    "+person_distances",
                    "--resource-type",
                    "model",
                    "seed",
                    "--vars",
                    json.dumps({"as_of_date": "2026-11-01"}),
                ]
            )
        assert result.success, f"dbt build failed: {result.exception}"
        with psycopg.connect(**test_params.libpq(), row_factory=dict_row) as conn:
            yield conn
    finally:
        with psycopg.connect(**params.libpq("postgres"), autocommit=True) as admin:
            admin.execute(f'drop database if exists "{dbname}" with (force)')


def _demographics(conn: psycopg.Connection, contact_id: str) -> dict[str, Any]:
    (row,) = conn.execute(
        "select d.* from marts.person_demographics d join marts.persons p using (person_id) "
        "where p.hubspot_contact_id = %s",
        (contact_id,),
    ).fetchall()
    return row


def test_postal_code_69003_resolves_to_lyon(built: psycopg.Connection) -> None:
    row = _demographics(built, "1")
    assert (row["commune_code"], row["commune_name"]) == ("69123", "Lyon")
    assert (row["departement_code"], row["region_code"], row["region_name"]) == (
        "69",
        "84",
        "Auvergne-Rhône-Alpes",
    )
    assert (row["nuts3_code"], row["nuts2_code"]) == ("FRK26", "FRK2")
    assert row["urban_class"] == "dense"  # 522,250 inhabitants on 47.87 km²
    assert float(row["region_unemployment_rate"]) == pytest.approx(7.1)
    assert float(row["region_household_income_eur"]) == pytest.approx(21850)
    assert row["commune_income_decile"] == 1  # the only commune with income data
    assert (row["age"], row["age_band"], row["gender"]) == (36, "35-44", "f")
    assert (row["language"], row["language_source"]) == ("fr", "country")


def test_lyon_3e_is_a_few_km_from_the_lyon_shop(built: psycopg.Connection) -> None:
    distances = {
        r["point_key"]: float(r["distance_km"])
        for r in built.execute(
            "select x.point_key, x.distance_km from marts.person_distances x "
            "join marts.persons p using (person_id) where p.hubspot_contact_id = '1'"
        ).fetchall()
    }
    assert 0 <= distances["lyon_shop"] <= 5
    assert 380 <= distances["paris_shop"] <= 410


def test_foreign_contact_has_no_french_geography(built: psycopg.Connection) -> None:
    row = _demographics(built, "2")
    assert row["commune_code"] is None and row["nuts3_code"] is None
    assert row["urban_class"] == "unknown"
    assert (row["language"], row["language_source"]) == ("de", "country")
    count = built.execute(
        "select count(*) as n from marts.person_distances x join marts.persons p using (person_id) "
        "where p.hubspot_contact_id = '2'"
    ).fetchone()
    assert count["n"] == 0
