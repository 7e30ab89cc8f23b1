"""Eurostat's statistics API (JSON-stat 2.0) for the French NUTS regions of ``communes.csv``.

``GET /eurostat/api/dissemination/statistics/1.0/data/{dataset}`` for
``demo_r_pjangrp3`` (population by sex and 5-year age group; every NUTS level),
``nama_10r_2hhinc`` (household disposable income B6N per inhabitant; NUTS 2
and above) and ``lfst_r_lfu3rt`` (unemployment rate; NUTS 2 and above).

Filters as Eurostat takes them: ``geo`` (repeatable), ``geoLevel``
(``country|nuts1|nuts2|nuts3``), ``time`` (repeatable), ``sinceTimePeriod``,
``untilTimePeriod``, ``lastTimePeriod=N``, and any other dimension by its codes
(``sex=F``); ``format``/``lang`` are accepted. The answer is a JSON-stat 2.0
dataset: ``id`` (dimension order), ``size``, ``dimension.{d}.category.index``
(code → position) and ``.label``, ``value`` a *sparse* object keyed by the
row-major flat index as a string (missing cells absent) and ``status`` keyed the
same way (``p`` provisional, ``e`` estimated). Values are deterministic and
plausible, derived from the communes' populations. NUTS 3 = département; NUTS 2
and NUTS 1 are the first 4 and 3 characters.

The ``corrupt_rate`` of ``/_sandbox/opendata/config`` turns some cells'
values into strings (malformed), for reject tests; injected faults apply as in
:mod:`sandbox.insee`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox import communes as communes_table
from sandbox.insee import fault_route, opendata_of, unit

PREFIX = "/eurostat/api/dissemination/statistics/1.0/data"
NUTS1 = {
    "FR1": "Ile-de-France",
    "FRB": "Centre — Val de Loire",
    "FRC": "Bourgogne-Franche-Comté",
    "FRD": "Normandie",
    "FRE": "Hauts-de-France",
    "FRF": "Grand Est",
    "FRG": "Pays de la Loire",
    "FRH": "Bretagne",
    "FRI": "Nouvelle-Aquitaine",
    "FRJ": "Occitanie",
    "FRK": "Auvergne-Rhône-Alpes",
    "FRL": "Provence-Alpes-Côte d’Azur",
    "FRM": "Corse",
}
NUTS2 = {
    "FR10": "Ile-de-France",
    "FRB0": "Centre — Val de Loire",
    "FRC1": "Bourgogne",
    "FRC2": "Franche-Comté",
    "FRD1": "Basse-Normandie",
    "FRD2": "Haute-Normandie",
    "FRE1": "Nord-Pas de Calais",
    "FRE2": "Picardie",
    "FRF1": "Alsace",
    "FRF2": "Champagne-Ardenne",
    "FRF3": "Lorraine",
    "FRG0": "Pays de la Loire",
    "FRH0": "Bretagne",
    "FRI1": "Aquitaine",
    "FRI2": "Limousin",
    "FRI3": "Poitou-Charentes",
    "FRJ1": "Languedoc-Roussillon",
    "FRJ2": "Midi-Pyrénées",
    "FRK1": "Auvergne",
    "FRK2": "Rhône-Alpes",
    "FRL0": "Provence-Alpes-Côte d’Azur",
    "FRM0": "Corse",
}
AGES = (
    ("TOTAL", "Total"),
    ("Y_LT5", "Less than 5 years"),
    *((f"Y{a}-{a + 4}", f"From {a} to {a + 4} years") for a in range(5, 90, 5)),
    ("Y_GE90", "90 years or over"),
)
SEXES = (("F", "Females"), ("M", "Males"), ("T", "Total"))
STATUS_LABELS = {"p": "provisional", "e": "estimated", "b": "break in time series", "u": "low reliability"}


@dataclass(frozen=True)
class Region:
    code: str
    label: str
    level: str  # country | nuts1 | nuts2 | nuts3
    population: int  # 2024, synthetic


def regions() -> list[Region]:
    """France, and every NUTS region above the communes of the table (populations synthetic)."""
    nuts3: dict[str, tuple[str, str, int]] = {}
    for c in communes_table.load():
        label, dep, pop = nuts3.get(c.nuts3, (c.departement, c.departement_code, 0))
        nuts3[c.nuts3] = (label, dep, pop + c.population)
    out: dict[str, Region] = {}
    for code, (label, dep, pop) in nuts3.items():
        # the table holds a département's largest towns only: scale up to a département's size
        total = pop if dep == "75" else int(pop * (1.8 + 2.5 * unit(f"nuts3:{code}")) + 120_000)
        out[code] = Region(code, label, "nuts3", total)
    for level, width, labels in (("nuts2", 4, NUTS2), ("nuts1", 3, NUTS1), ("country", 2, {"FR": "France"})):
        for r in [r for r in out.values() if r.level == "nuts3"]:
            code = r.code[:width]
            prev = out.get(code)
            out[code] = Region(
                code, labels.get(code, code), level, (prev.population if prev else 0) + r.population
            )
    return sorted(out.values(), key=lambda r: (len(r.code), r.code))


@dataclass(frozen=True)
class Dataset:
    code: str
    label: str
    dims: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]  # (id, label, categories) before geo/time
    levels: tuple[str, ...]
    years: tuple[str, ...]


DATASETS = {
    "demo_r_pjangrp3": Dataset(
        "demo_r_pjangrp3",
        "Population on 1 January by age group, sex and NUTS 3 region",
        (
            ("freq", "Time frequency", (("A", "Annual"),)),
            ("sex", "Sex", SEXES),
            ("unit", "Unit of measure", (("NR", "Number"),)),
            ("age", "Age class", AGES),
        ),
        ("country", "nuts1", "nuts2", "nuts3"),
        tuple(str(y) for y in range(2019, 2025)),
    ),
    "nama_10r_2hhinc": Dataset(
        "nama_10r_2hhinc",
        "Income of households by NUTS 2 region",
        (
            ("freq", "Time frequency", (("A", "Annual"),)),
            ("unit", "Unit of measure", (("EUR_HAB", "Euro per inhabitant"),)),
            ("direct", "Direction of flow", (("BAL", "Balance"),)),
            ("na_item", "National accounts indicator (ESA 2010)", (("B6N", "Disposable income, net"),)),
        ),
        ("country", "nuts1", "nuts2"),
        tuple(str(y) for y in range(2016, 2023)),
    ),
    "lfst_r_lfu3rt": Dataset(
        "lfst_r_lfu3rt",
        "Unemployment rates by sex, age, educational attainment level and NUTS 2 region (%)",
        (
            ("freq", "Time frequency", (("A", "Annual"),)),
            (
                "isced11",
                "International Standard Classification of Education (ISCED 2011)",
                (("TOTAL", "All ISCED 2011 levels"),),
            ),
            ("sex", "Sex", SEXES),
            ("age", "Age class", (("Y15-74", "From 15 to 74 years"),)),
            ("unit", "Unit of measure", (("PC", "Percentage"),)),
        ),
        ("country", "nuts1", "nuts2"),
        tuple(str(y) for y in range(2018, 2025)),
    ),
}


def cell(ds: Dataset, codes: dict[str, str], region: Region) -> tuple[float, str | None] | None:
    """The value and status of one cell, or None when Eurostat has no figure for it."""
    year = codes["time"]
    key = f"{ds.code}|{'|'.join(codes.values())}"
    latest = year == ds.years[-1]
    if latest and unit(f"missing:{ds.code}:{region.code}") < 0.08:
        return None  # not yet published for this region
    status = "p" if latest else ("e" if unit(f"e:{key}") < 0.03 else None)
    trend = 1 + 0.004 * (int(year) - 2024)
    if ds.code == "demo_r_pjangrp3":
        u = unit(f"age:{region.code}")
        total = region.population * trend
        if codes["age"] != "TOTAL":
            i = [a for a, _ in AGES].index(codes["age"]) - 1
            old = (0.95, 0.9, 0.8, 0.66, 0.5, 0.34, 0.2, 0.08)  # from 55-59 to 90+
            weights = [1.0 + 0.2 * (u - 0.5)] * 11 + [w * (1.2 - 0.4 * u) for w in old]
            total *= weights[i] / sum(weights)
        share = {"T": 1.0, "F": 0.515, "M": 0.485}[codes["sex"]]
        return float(round(total * share)), status
    if ds.code == "nama_10r_2hhinc":
        base = 19_500 + 3_000 * unit(f"inc:{region.code}") + (5_000 if region.code.startswith("FR1") else 0)
        return float(round(base * (1 + 0.021 * (int(year) - 2022)), -1)), status
    rate = 6.0 + 5.0 * unit(f"unemp:{region.code}") - 0.25 * (int(year) - 2018)
    rate += {"T": 0.0, "F": 0.3, "M": -0.3}[codes["sex"]]
    return round(max(rate, 3.0), 1), status


def _select(values: list[str], wanted: list[str]) -> list[str] | None:
    if not wanted:
        return values
    picked = [v for v in values if v in set(wanted)]
    return picked if len(picked) == len(set(wanted)) else None


def _years(ds: Dataset, params: Any) -> list[str] | None:
    years = list(ds.years)
    if params.getlist("time"):
        years = _select(years, params.getlist("time")) or []
    since, until, last = (
        params.get("sinceTimePeriod"),
        params.get("untilTimePeriod"),
        params.get("lastTimePeriod"),
    )
    if since:
        years = [y for y in years if y >= since]
    if until:
        years = [y for y in years if y <= until]
    if last:
        if not last.isdigit() or int(last) < 1:
            return None
        years = years[-int(last) :]
    return years


def error(status: int, label: str) -> JSONResponse:
    return JSONResponse({"error": [{"status": status, "id": status, "label": label}]}, status_code=status)


def build(ds: Dataset, params: Any, corrupt: Any) -> dict[str, Any] | JSONResponse:
    """The JSON-stat 2.0 answer to one query (or an error answer)."""
    level = params.get("geoLevel")
    if level and level not in ("country", "nuts1", "nuts2", "nuts3"):
        return error(400, f"geoLevel {level} is not one of country, nuts1, nuts2, nuts3")
    geos = [r for r in regions() if r.level in ds.levels and (not level or r.level == level)]
    if params.getlist("geo"):
        wanted = set(params.getlist("geo"))
        geos = [r for r in geos if r.code in wanted]
    years = _years(ds, params)
    if years is None:
        return error(400, "lastTimePeriod must be a positive integer")
    dims: list[tuple[str, str, list[tuple[str, str]]]] = []
    for dim_id, dim_label, categories in ds.dims:
        wanted = params.getlist(dim_id)
        chosen = [c for c in categories if not wanted or c[0] in set(wanted)]
        dims.append((dim_id, dim_label, chosen))
    dims.append(("geo", "Geopolitical entity (reporting)", [(r.code, r.label) for r in geos]))
    dims.append(("time", "Time", [(y, y) for y in years]))
    if any(not cats for _, _, cats in dims):
        return error(404, "No data found for the given filters")
    by_code = {r.code: r for r in geos}
    values: dict[str, Any] = {}
    status: dict[str, str] = {}
    sizes = [len(c) for _, _, c in dims]
    for flat, combo in enumerate(itertools.product(*[[code for code, _ in c] for _, _, c in dims])):
        codes = {d[0]: code for d, code in zip(dims, combo, strict=True)}
        got = cell(ds, codes, by_code[codes["geo"]])
        if got is None:
            continue
        value, flag = got
        key = str(flat)
        values[key] = value
        if corrupt(f"eurostat:{ds.code}:{key}:{'|'.join(combo)}"):
            values[key] = "n/a"
        if flag:
            status[key] = flag
    return {
        "version": "2.0",
        "class": "dataset",
        "label": ds.label,
        "source": "ESTAT",
        "updated": "2026-03-14T23:00:00+0100",
        "value": values,
        "status": status,
        "id": [d[0] for d in dims],
        "size": sizes,
        "dimension": {
            dim_id: {
                "label": dim_label,
                "category": {
                    "index": {code: i for i, (code, _) in enumerate(cats)},
                    "label": dict(cats),
                },
            }
            for dim_id, dim_label, cats in dims
        },
        "extension": {
            "datasetId": ds.code,
            "lang": "EN",
            "status": {"label": STATUS_LABELS},
        },
    }


def flat_index(positions: list[int], sizes: list[int]) -> int:
    """Row-major flat index: Σ pos_i × Π size[i+1:] (for tests)."""
    return sum(p * math.prod(sizes[i + 1 :]) for i, p in enumerate(positions))


def make_router(runtime: Any) -> APIRouter:
    """Eurostat's dissemination statistics API, with faults drawn from ``runtime``."""
    opendata = opendata_of(runtime)
    router = APIRouter(route_class=fault_route(opendata, "eurostat"))

    @router.get(PREFIX + "/{dataset}")
    async def data(dataset: str, request: Request) -> Response:
        ds = DATASETS.get(dataset)
        if ds is None:
            return error(404, f"Dataset {dataset} does not exist or is not available")
        fmt = request.query_params.get("format", "JSON")
        if fmt.upper() != "JSON":
            return error(400, f"format {fmt} is not supported by this API: use JSON")
        doc = build(ds, request.query_params, opendata.config.corrupt)
        return doc if isinstance(doc, JSONResponse) else JSONResponse(doc)

    return router


def iter_regions(level: str) -> Iterator[Region]:
    """The regions of one level (for tests)."""
    return (r for r in regions() if r.level == level)
