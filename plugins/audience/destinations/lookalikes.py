"""Facebook lookalike audiences built from a synced audience's catalogue settings.

``marts.audiences`` holds, per audience, ``lookalike_enabled``,
``lookalike_countries`` (ISO 3166-1 alpha-2), ``lookalike_ratio`` (share of
the country's population, 0.01-0.20 as Meta accepts; the catalogue checks it)
and ``lookalike_starting_ratio``. After a successful sync, one lookalike per
source audience and country is found by name or created
(``POST act_<id>/customaudiences`` with ``subtype=LOOKALIKE``,
``origin_audience_id`` and ``lookalike_spec``), and recorded in
``ops.sync_lookalikes``: later runs make no call for a lookalike already
recorded with the same settings. Changed settings give a new name, so a new
lookalike (the old one stays on the platform until deleted by hand).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

log = logging.getLogger(__name__)

CATALOGUE_TABLE = "marts.audiences"
MIN_RATIO, MAX_RATIO = 0.01, 0.20

LOOKALIKE_DDL = """
create schema if not exists ops;
create table if not exists ops.sync_lookalikes (
    destination          text not null,
    audience_key         text not null,
    country              text not null,
    ratio                numeric not null,
    starting_ratio       numeric,
    origin_audience_id   text not null,
    platform_audience_id text not null,
    created_at           timestamptz not null default now(),
    primary key (destination, audience_key, country, ratio, origin_audience_id)
);
comment on table ops.sync_lookalikes is 'Lookalike audiences made from synced audiences (ids and settings only).';
"""


@dataclass(frozen=True)
class LookalikeSettings:
    countries: tuple[str, ...]
    ratio: float
    starting_ratio: float | None = None

    def __post_init__(self) -> None:
        if not MIN_RATIO <= self.ratio <= MAX_RATIO:
            raise ValueError(
                f"lookalike ratio {self.ratio} is outside {MIN_RATIO}-{MAX_RATIO}; fix the audience's lookalike "
                "settings in audiences/*.yml"
            )
        if self.starting_ratio is not None and not 0 <= self.starting_ratio < self.ratio:
            raise ValueError(
                f"lookalike starting_ratio {self.starting_ratio} must be below ratio {self.ratio}"
            )
        bad = [c for c in self.countries if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"lookalike countries {bad} are not ISO 3166-1 alpha-2 codes")

    def spec(self, country: str) -> dict[str, Any]:
        """Meta's ``lookalike_spec`` for one country."""
        spec: dict[str, Any] = {"type": "custom_ratio", "ratio": self.ratio, "country": country.upper()}
        if self.starting_ratio:
            spec["starting_ratio"] = self.starting_ratio
        return spec


def lookalike_name(audience_key: str, ratio: float, country: str) -> str:
    return f"{audience_key} lookalike {ratio * 100:g}% {country.upper()}"


def lookalike_settings(conn: psycopg.Connection, audience_key: str) -> LookalikeSettings | None:
    """The audience's lookalike settings from the catalogue (None: disabled, no catalogue or no row)."""
    exists = conn.execute("select to_regclass(%s)", (CATALOGUE_TABLE,)).fetchone()[0]
    if exists is None:
        conn.commit()
        return None
    row = conn.execute(
        f"select lookalike_enabled, lookalike_countries, lookalike_ratio, lookalike_starting_ratio "
        f"from {CATALOGUE_TABLE} where audience_key = %s",
        (audience_key,),
    ).fetchone()
    conn.commit()
    if not row or not row[0] or not row[1] or row[2] is None:
        return None
    return LookalikeSettings(
        countries=tuple(str(c).upper() for c in row[1]),
        ratio=float(row[2]),
        starting_ratio=float(row[3]) if row[3] is not None else None,
    )


def ensure_lookalikes(
    conn: psycopg.Connection, destination: Any, audience_key: str, origin_audience_id: str
) -> list[str]:
    """Find or create the audience's lookalikes (one per country); their platform ids.

    Destinations without lookalikes (no ``find_or_create_lookalike``) get none.
    Raises :class:`~audience.destinations.base.DestinationError` if the platform
    refuses, ``ValueError`` if the catalogue's settings are out of range.
    """
    if not hasattr(destination, "find_or_create_lookalike"):
        return []
    settings = lookalike_settings(conn, audience_key)
    if settings is None:
        return []
    conn.execute(LOOKALIKE_DDL)
    conn.commit()
    ids: list[str] = []
    for country in settings.countries:
        key = (destination.name, audience_key, country, Decimal(str(settings.ratio)), origin_audience_id)
        held = conn.execute(
            "select platform_audience_id from ops.sync_lookalikes where destination = %s and audience_key = %s "
            "and country = %s and ratio = %s and origin_audience_id = %s",
            key,
        ).fetchone()
        conn.commit()
        if held:
            ids.append(held[0])
            continue
        lookalike_id = destination.find_or_create_lookalike(
            lookalike_name(audience_key, settings.ratio, country), origin_audience_id, settings.spec(country)
        )
        conn.execute(
            "insert into ops.sync_lookalikes (destination, audience_key, country, ratio, origin_audience_id, "
            "starting_ratio, platform_audience_id) values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            (*key, settings.starting_ratio, lookalike_id),
        )
        conn.commit()
        log.info("lookalike of %s (%s, %g): audience %s", audience_key, country, settings.ratio, lookalike_id)
        ids.append(lookalike_id)
    return ids
