"""The French communes the synthetic world places people in (``sandbox/data/communes.csv``).

Real codes and places: postal code, INSEE commune code, name, the usual city
name on an address, département, région (INSEE codes), NUTS 3 region,
coordinates and an approximate legal population. The world generator draws
French contacts from it; later sandbox endpoints (INSEE, Eurostat) serve from
it, so codes agree everywhere.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

COMMUNES_CSV = Path(__file__).resolve().parent / "data" / "communes.csv"
COLUMNS = (
    "postal_code",
    "insee_code",
    "commune",
    "city",
    "departement_code",
    "departement",
    "region_code",
    "region",
    "nuts3",
    "lat",
    "lon",
    "population",
)


@dataclass(frozen=True)
class Commune:
    postal_code: str
    insee_code: str
    commune: str
    city: str
    departement_code: str
    departement: str
    region_code: str
    region: str
    nuts3: str
    lat: float
    lon: float
    population: int


@functools.cache
def load(path: Path = COMMUNES_CSV) -> tuple[Commune, ...]:
    """All communes of the table, in file order."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: expected the columns {', '.join(COLUMNS)}; got {reader.fieldnames}")
        rows = []
        for line_no, row in enumerate(reader, start=2):
            try:
                rows.append(
                    Commune(
                        **{k: row[k] for k in COLUMNS[:9]},
                        lat=float(row["lat"]),
                        lon=float(row["lon"]),
                        population=int(row["population"]),
                    )
                )
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}, line {line_no}: {exc}; fix the row") from None
    return tuple(rows)
