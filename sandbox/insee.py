"""INSEE's open APIs (Métadonnées geo, Melodi) and La Poste's postal-code file, from ``communes.csv``.

Everything is derived from ``sandbox/data/communes.csv`` (and the postal-code
file ``sandbox/data/laposte_hexasmal.csv`` built from it), so the codes agree
with the synthetic world's addresses:

- Métadonnées geo (``/metadonnees/geo/...``): ``communes``, ``arrondissementsMunicipaux``,
  ``departements``, ``regions`` (``?date=YYYY-MM-DD``), and
  ``{type}/{code}/ascendants|descendants?type=...``. Items have INSEE's shape
  (``code, uri, type, dateCreation, intituleSansArticle, typeArticle, intitule``;
  ``chefLieu`` on départements and régions). The arrondissements of Paris,
  Lyon and Marseille are served as ``ArrondissementMunicipal``; their
  communes (75056, 69123, 13055) as ``Commune``.
- Melodi (``/melodi/data/{DATASET}``): ``DS_POPULATIONS_REFERENCE``,
  ``DS_RP_POPULATION_PRINC`` (by ``SEX`` and ``AGE``), ``DS_FILOSOFI_CC``
  (``MED_SL``, ``PR_MD60``). ``GEO`` takes ``2024-COM-44109`` or
  ``DEP-44*COM``; any other dimension filters by equality; ``maxResult``
  (≤ 10,000) and ``page`` (from 1) page the observations. Values are
  deterministic and plausible, derived from each commune's population.
  30 requests per minute per client, then 429 with ``Retry-After``.
- La Poste's "base officielle des codes postaux" at
  ``/data-fair/api/v1/datasets/laposte-hexasmal/raw`` (``;``-separated).

Sandbox-only: ``GET|POST /_sandbox/opendata/config`` (``melodi_per_minute``,
``corrupt_rate``, ``corrupt_seed``: a share of items served malformed, to test
rejects). Faults set through ``POST /_sandbox/faults`` apply here too (this
module's routes draw them themselves: see :class:`FaultRoute`).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import hashlib
import json
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute

from sandbox import communes as communes_table

DATA_DIR = Path(__file__).resolve().parent / "data"
POSTAL_CODES_CSV = DATA_DIR / "laposte_hexasmal.csv"
GEO_VINTAGE = "2024"  # the geography year Melodi prefixes its GEO codes with
MELODI_MAX_RESULT = 10_000
MELODI_DEFAULT_RESULT = 1_000
URI_NS = uuid.UUID("6f1c2a8e-0b7d-4c55-9a57-3c1f0d2b9e11")
# communes split into arrondissements municipaux: (INSEE code, name, chef-lieu arrondissement)
MUNICIPAL = {"Paris": "75056", "Lyon": "69123", "Marseille": "13055"}
CREATED = {"91228": "2019-01-01", "74010": "2017-01-01"}  # communes nouvelles among the table


# -- fault injection and sandbox settings shared by the open-data twins ----------------------------


@dataclass(frozen=True)
class OpenDataConfig:
    """Limits and corruption of the open-data twins (sandbox-only knobs)."""

    melodi_per_minute: int = 30
    corrupt_rate: float = 0.0
    corrupt_seed: int = 0

    def __post_init__(self) -> None:
        if int(self.melodi_per_minute) < 0:
            raise ValueError("melodi_per_minute must be zero (off) or more")
        if not 0.0 <= float(self.corrupt_rate) <= 1.0:
            raise ValueError("corrupt_rate must be between 0 and 1")

    def corrupt(self, key: str) -> bool:
        """Whether the item identified by ``key`` is served malformed (deterministic per key and seed)."""
        return self.corrupt_rate > 0 and unit(f"{self.corrupt_seed}:{key}") < self.corrupt_rate


class OpenData:
    """Server-wide state of the open-data twins: their config and Melodi's per-client call window."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.config = OpenDataConfig()
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = {}
        self._fault_rng: random.Random | None = None
        self._fault_key: Any = None

    def set_config(self, data: dict[str, Any]) -> OpenDataConfig:
        known = {f.name for f in fields(OpenDataConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown open-data settings {unknown}; known: {', '.join(sorted(known))}")
        self.config = replace(self.config, **data)
        with self._lock:
            self._calls.clear()
        return self.config

    def melodi_wait(self, client: str, now: float | None = None) -> float:
        """0 when the call is allowed (and counted), else seconds until the window frees a slot."""
        limit = self.config.melodi_per_minute
        if limit <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            calls = self._calls.setdefault(client, deque())
            while calls and now - calls[0] >= 60.0:
                calls.popleft()
            if len(calls) >= limit:
                return 60.0 - (now - calls[0])
            calls.append(now)
            return 0.0

    def draw_fault(self, target: str) -> tuple[str, float] | None:
        """A fault for this request, drawn from the faults set through ``POST /_sandbox/faults``.

        The shared gate only knows its own targets (HubSpot, Graph); faults apply
        here when the configured targets name this API or are all of the gate's
        (the default), with a sequence reproducible from the faults' seed.
        """
        faults = getattr(self.runtime, "faults", None)
        if faults is None or faults.rate <= 0:
            return None
        from sandbox.config import TARGETS  # noqa: PLC0415

        if target not in faults.targets and set(faults.targets) != set(TARGETS):
            return None
        with self._lock:
            if self._fault_key is not faults:
                self._fault_key, self._fault_rng = faults, random.Random(f"{faults.seed}:opendata")
            rng = self._fault_rng
            assert rng is not None
            if rng.random() >= faults.rate:
                return None
            return rng.choice(faults.kinds), rng.random()

    def count_fault(self, kind: str) -> None:
        lock = getattr(self.runtime, "_lock", None)
        injected = getattr(self.runtime, "injected", None)
        if lock is not None and injected is not None:
            with lock:
                injected[kind] += 1


def fault_response(kind: str, target: str) -> Response:
    """What a gateway in front of INSEE or Eurostat answers when things go wrong."""
    if kind == "503":
        return HTMLResponse(
            "<html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>",
            status_code=503,
        )
    if kind == "timeout":
        return HTMLResponse(
            "<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>",
            status_code=504,
        )
    if kind in ("429", "graph_rate_limit"):
        return too_many_requests(target, 1.0)
    if target == "eurostat":
        return JSONResponse(
            {"error": [{"status": 500, "id": 500, "label": "Internal server error"}]}, status_code=500
        )
    return JSONResponse({"code": 500, "message": "Internal Server Error"}, status_code=500)


def too_many_requests(target: str, retry_after: float) -> JSONResponse:
    seconds = str(max(1, math.ceil(retry_after)))
    if target == "eurostat":
        body: dict[str, Any] = {"error": [{"status": 429, "id": 429, "label": "Too many requests"}]}
    else:
        body = {"code": 429, "message": "Too Many Requests: 30 requests per minute are allowed"}
    return JSONResponse(body, status_code=429, headers={"Retry-After": seconds})


def fault_route(opendata: OpenData, target: str) -> type[APIRoute]:
    """A route class whose handlers first draw an injected fault (a faulted request changes nothing)."""

    class FaultRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def route(request: Request) -> Response:
                fault = None if request.url.path.startswith("/_sandbox") else opendata.draw_fault(target)
                if fault:
                    kind, _ = fault
                    if kind == "timeout":
                        await asyncio.sleep(opendata.runtime.faults.timeout_seconds)
                    opendata.count_fault(kind)
                    return fault_response(kind, target)
                return await handler(request)

            return route

    return FaultRoute


def unit(key: str) -> float:
    """A uniform number in [0, 1) that depends only on ``key``."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def opendata_of(runtime: Any) -> OpenData:
    """The open-data state hung on the app's runtime (one per app, shared by INSEE and Eurostat)."""
    existing = getattr(runtime, "opendata", None)
    if existing is None:
        existing = OpenData(runtime)
        runtime.opendata = existing
    return existing


# -- geography ----------------------------------------------------------------------------------


def _article(name: str) -> tuple[str, str]:
    """INSEE's ``typeArticle`` and the name without its article."""
    for prefix, code in (("Les ", "4"), ("Le ", "2"), ("La ", "3"), ("L'", "5"), ("Aux ", "6")):
        if name.startswith(prefix):
            return code, name[len(prefix) :]
    return ("1" if name[:1] in "AEIOUYÉÈÊÎÔ" else "0"), name


def _item(kind: str, code: str, name: str, created: str, **extra: str) -> dict[str, Any]:
    type_article, bare = _article(name)
    path = {"Commune": "commune", "ArrondissementMunicipal": "arrondissementMunicipal"}.get(
        kind, kind.lower()
    )
    return {
        "code": code,
        "uri": f"http://id.insee.fr/geo/{path}/{uuid.uuid5(URI_NS, f'{kind}:{code}')}",
        "type": kind,
        "dateCreation": created,
        "intituleSansArticle": bare,
        "typeArticle": type_article,
        **extra,
        "intitule": name,
    }


@dataclass(frozen=True)
class Place:
    kind: str  # Commune | ArrondissementMunicipal | Departement | Region
    code: str
    name: str
    created: str
    parent: str | None  # commune of an arrondissement, département of a commune, région of a département
    population: int
    chef_lieu: str | None = None

    def item(self) -> dict[str, Any]:
        extra = {"chefLieu": self.chef_lieu} if self.chef_lieu else {}
        return _item(self.kind, self.code, self.name, self.created, **extra)


class Geography:
    """Communes, arrondissements, départements and régions of the table, keyed by (type, code)."""

    def __init__(self) -> None:
        rows = communes_table.load()
        places: dict[tuple[str, str], Place] = {}
        dep_pop: dict[str, int] = {}
        reg_pop: dict[str, int] = {}
        biggest: dict[str, tuple[int, str]] = {}
        for c in rows:
            dep_pop[c.departement_code] = dep_pop.get(c.departement_code, 0) + c.population
            reg_pop[c.region_code] = reg_pop.get(c.region_code, 0) + c.population
            m = re.match(r"(Paris|Lyon|Marseille) \d+", c.commune)
            if m:
                places[("ArrondissementMunicipal", c.insee_code)] = Place(
                    "ArrondissementMunicipal",
                    c.insee_code,
                    c.commune,
                    "1943-01-01",
                    MUNICIPAL[m.group(1)],
                    c.population,
                )
                key = ("Commune", MUNICIPAL[m.group(1)])
                prev = places.get(key)
                pop = (prev.population if prev else 0) + c.population
                places[key] = Place("Commune", key[1], m.group(1), "1943-01-01", c.departement_code, pop)
                code_for_size = key[1]
            else:
                places[("Commune", c.insee_code)] = Place(
                    "Commune",
                    c.insee_code,
                    c.commune,
                    CREATED.get(c.insee_code, "1943-01-01"),
                    c.departement_code,
                    c.population,
                )
                code_for_size = c.insee_code
            size = places[("Commune", code_for_size)].population
            if size > biggest.get(c.departement_code, (0, ""))[0]:
                biggest[c.departement_code] = (size, code_for_size)
        for c in rows:
            if ("Departement", c.departement_code) not in places:
                places[("Departement", c.departement_code)] = Place(
                    "Departement",
                    c.departement_code,
                    c.departement,
                    "1967-12-31",
                    c.region_code,
                    dep_pop[c.departement_code],
                    chef_lieu=biggest[c.departement_code][1],
                )
            if ("Region", c.region_code) not in places:
                places[("Region", c.region_code)] = Place(
                    "Region",
                    c.region_code,
                    c.region,
                    "2016-01-01",
                    None,
                    reg_pop[c.region_code],
                )
        for key, reg in list(places.items()):
            if key[0] == "Region":
                deps = [p for p in places.values() if p.kind == "Departement" and p.parent == reg.code]
                big = max(deps, key=lambda d: d.population)
                places[key] = replace(reg, chef_lieu=big.chef_lieu)
        self.places = places
        self.nuts3 = {c.departement_code: c.nuts3 for c in rows}

    def of_kind(self, kind: str, date: str | None) -> list[Place]:
        found = [p for p in self.places.values() if p.kind == kind and (not date or p.created <= date)]
        return sorted(found, key=lambda p: p.code)

    def get(self, kind: str, code: str) -> Place | None:
        return self.places.get((kind, code))

    def ascendants(self, place: Place) -> list[Place]:
        out = []
        current = place
        while current.parent:
            parent_kind = {
                "ArrondissementMunicipal": "Commune",
                "Commune": "Departement",
                "Departement": "Region",
            }[current.kind]
            parent = self.places[(parent_kind, current.parent)]
            out.append(parent)
            current = parent
        return out

    def descendants(self, place: Place) -> list[Place]:
        out = [p for p in self.places.values() if place in self.ascendants(p)]
        return sorted(out, key=lambda p: (p.kind, p.code))

    def communes_of(self, dep: str) -> list[Place]:
        return [p for p in self.of_kind("Commune", None) if p.parent == dep]


@functools.cache
def geography() -> Geography:
    return Geography()


GEO_KINDS = {
    "communes": "Commune",
    "arrondissementsMunicipaux": "ArrondissementMunicipal",
    "departements": "Departement",
    "regions": "Region",
}
ONE_KIND = {
    "commune": "Commune",
    "arrondissementMunicipal": "ArrondissementMunicipal",
    "departement": "Departement",
    "region": "Region",
}


def geo_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status)


# -- Melodi -------------------------------------------------------------------------------------

AGES = ("Y_LT15", "Y15T29", "Y30T44", "Y45T59", "Y60T74", "Y_GE75")
AGE_SHARES = (0.17, 0.18, 0.19, 0.19, 0.17, 0.10)
DATASETS = ("DS_POPULATIONS_REFERENCE", "DS_RP_POPULATION_PRINC", "DS_FILOSOFI_CC")


def _split(total: int, shares: list[float]) -> list[int]:
    """``total`` split by ``shares`` into integers that add up to it exactly."""
    raw = [total * s / sum(shares) for s in shares]
    out = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[: total - sum(out)]:
        out[i] += 1
    return out


def observations(dataset: str, place: Place) -> Iterator[tuple[dict[str, str], float]]:
    """The (dimensions, value) cells of one commune in ``dataset``, in a fixed order."""
    geo = f"{GEO_VINTAGE}-COM-{place.code}"
    u = unit(place.code)
    base = {"GEO": geo, "FREQ": "A"}
    if dataset == "DS_POPULATIONS_REFERENCE":
        for year, factor in (("2021", 0.994 + 0.01 * u), ("2022", 1.0)):
            pmun = round(place.population * factor)
            pcap = round(pmun * (0.01 + 0.015 * unit(place.code + year)))
            for measure, value in (("PMUN", pmun), ("PCAP", pcap), ("PTOT", pmun + pcap)):
                yield {**base, "POPREF_MEASURE": measure, "TIME_PERIOD": year}, float(value)
    elif dataset == "DS_RP_POPULATION_PRINC":
        young = 0.85 + 0.3 * u  # some communes younger, some older
        shares = [s * (young if i < 3 else 2 - young) for i, s in enumerate(AGE_SHARES)]
        by_age = _split(place.population, shares)
        for age, total in zip(("_T", *AGES), (place.population, *by_age), strict=True):
            female = round(total * (0.505 + (0.06 if age == "Y_GE75" else 0.0) + 0.02 * (u - 0.5)))
            for sex, value in (("_T", total), ("F", female), ("M", total - female)):
                yield (
                    {**base, "SEX": sex, "AGE": age, "RP_MEASURE": "POP", "TIME_PERIOD": "2021"},
                    float(value),
                )
    elif dataset == "DS_FILOSOFI_CC":
        big = math.log10(max(place.population, 1000))
        median = 18_500 + 6_000 * unit(place.code + "med") + 400 * (big - 3)
        poverty = 8 + 18 * unit(place.code + "pov") * (24_000 / median)
        yield (
            {**base, "FILOSOFI_MEASURE": "MED_SL", "UNIT_MEASURE": "EUR_YR", "TIME_PERIOD": "2021"},
            round(median, -1),
        )
        yield (
            {**base, "FILOSOFI_MEASURE": "PR_MD60", "UNIT_MEASURE": "PC", "TIME_PERIOD": "2021"},
            round(poverty, 1),
        )


def melodi_places(geo_values: list[str]) -> list[Place] | None:
    """The communes a list of GEO filters selects (None: a filter names nothing this twin knows)."""
    geo = geography()
    if not geo_values:
        return geo.of_kind("Commune", None)
    out: list[Place] = []
    for value in geo_values:
        m = re.fullmatch(r"(?:\d{4}-)?COM-(\w{5})", value)
        d = re.fullmatch(r"(?:\d{4}-)?DEP-(\w{2,3})\*COM", value)
        if m and geo.get("Commune", m.group(1)):
            out.append(geo.get("Commune", m.group(1)))  # type: ignore[arg-type]
        elif d and geo.get("Departement", d.group(1)):
            out.extend(geo.communes_of(d.group(1)))
        else:
            return None
    return sorted(set(out), key=lambda p: p.code)


def _corrupt_observation(obs: dict[str, Any], key: str) -> dict[str, Any]:
    """One of the ways a broken observation looks: no GEO, a non-numeric value, no measures."""
    variant = int(unit(key + ":variant") * 3)
    if variant == 0:
        obs["dimensions"].pop("GEO")
    elif variant == 1:
        obs["measures"]["OBS_VALUE_NIVEAU"]["value"] = "n/a"
    else:
        obs.pop("measures")
    return obs


# -- the router ---------------------------------------------------------------------------------


def make_router(runtime: Any) -> APIRouter:
    """INSEE Métadonnées geo, Melodi and La Poste's postal codes, with faults drawn from ``runtime``."""
    opendata = opendata_of(runtime)
    router = APIRouter(route_class=fault_route(opendata, "insee"))

    @router.get("/metadonnees/geo/{plural}")
    async def geo_list(plural: str, date: str | None = None) -> Response:
        kind = GEO_KINDS.get(plural)
        if kind is None:
            return geo_error(404, f"Ressource inconnue : {plural}")
        if date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
            return geo_error(400, f"Le paramètre date doit être au format AAAA-MM-JJ : {date}")
        config = opendata.config
        items = []
        for place in geography().of_kind(kind, date):
            item = place.item()
            if config.corrupt(f"geo:{kind}:{place.code}"):
                item.pop("code")
            items.append(item)
        return JSONResponse(items)

    @router.get("/metadonnees/geo/{one}/{code}/{direction}")
    async def geo_related(
        one: str,
        code: str,
        direction: str,
        type: str | None = None,  # noqa: A002
        date: str | None = None,
    ) -> Response:
        kind = ONE_KIND.get(one)
        if kind is None or direction not in ("ascendants", "descendants"):
            return geo_error(404, f"Ressource inconnue : {one}/{code}/{direction}")
        geo = geography()
        place = geo.get(kind, code)
        if place is None or (date and place.created > date):
            return geo_error(404, f"Aucun(e) {one} ne correspond au code {code}")
        related = geo.ascendants(place) if direction == "ascendants" else geo.descendants(place)
        if type:
            if type not in ONE_KIND.values():
                return geo_error(400, f"Type inconnu : {type}")
            related = [p for p in related if p.kind == type]
        return JSONResponse([p.item() for p in related])

    @router.get("/melodi/data/{dataset}")
    async def melodi_data(dataset: str, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        wait = opendata.melodi_wait(client)
        if wait > 0:
            return too_many_requests("insee", wait)
        if dataset not in DATASETS:
            return JSONResponse({"code": 404, "message": f"Dataset {dataset} not found"}, status_code=404)
        params = request.query_params
        try:
            max_result = int(params.get("maxResult", MELODI_DEFAULT_RESULT))
            page = int(params.get("page", 1))
        except ValueError:
            return JSONResponse(
                {"code": 400, "message": "maxResult and page must be integers"}, status_code=400
            )
        if not 1 <= max_result <= MELODI_MAX_RESULT or page < 1:
            return JSONResponse(
                {"code": 400, "message": f"maxResult must be between 1 and {MELODI_MAX_RESULT}; page from 1"},
                status_code=400,
            )
        places = melodi_places(params.getlist("GEO"))
        if places is None:
            return JSONResponse({"code": 400, "message": "Unknown GEO value"}, status_code=400)
        filters = {
            k: set(params.getlist(k)) for k in params if k not in ("GEO", "maxResult", "page", "totalCount")
        }
        cells = [
            (dims, value)
            for place in places
            for dims, value in observations(dataset, place)
            if all(dims.get(k) in v for k, v in filters.items())
        ]
        start = (page - 1) * max_result
        chunk = cells[start : start + max_result]
        config = opendata.config
        obs = []
        for dims, value in chunk:
            o = {
                "dimensions": dict(dims),
                "attributes": {"OBS_STATUS": "A"},
                "measures": {"OBS_VALUE_NIVEAU": {"value": value}},
            }
            key = f"melodi:{dataset}:" + "|".join(dims.values())
            obs.append(_corrupt_observation(o, key) if config.corrupt(key) else o)
        is_last = start + max_result >= len(cells)
        next_url = None
        if not is_last:
            query = [(k, v) for k, v in params.multi_items() if k != "page"] + [("page", str(page + 1))]
            next_url = f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(query)}"
        return JSONResponse(
            {
                "identifier": dataset,
                "title": {"fr": dataset, "en": dataset},
                "observations": obs,
                "paging": {"count": len(cells), "next": next_url, "isLast": is_last},
            }
        )

    @router.get("/data-fair/api/v1/datasets/laposte-hexasmal/raw")
    async def postal_codes() -> Response:
        text = POSTAL_CODES_CSV.read_text(encoding="utf-8")
        config = opendata.config
        if config.corrupt_rate > 0:
            lines = text.splitlines()
            out = [lines[0]]
            for line in lines[1:]:
                if config.corrupt(f"laposte:{line}"):
                    cells = line.split(";")
                    cells[0] = "XX" + cells[0][2:]  # not an INSEE code
                    line = ";".join(cells[:3])  # and missing columns
                out.append(line)
            text = "\n".join(out) + "\n"
        return PlainTextResponse(text, media_type="text/csv; charset=utf-8")

    @router.get("/_sandbox/opendata/config")
    async def get_config() -> dict[str, Any]:
        return asdict(opendata.config)

    @router.post("/_sandbox/opendata/config")
    async def set_config(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            return JSONResponse(asdict(opendata.set_config(body)))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return router


def postal_code_rows() -> list[dict[str, str]]:
    """The postal-code file as dicts (for tests)."""
    with open(POSTAL_CODES_CSV, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=";")
        return [{k.lstrip("#"): v for k, v in row.items()} for row in reader]
