"""Segment stability between this run and the previous one, from the membership snapshot.

``snapshots.person_segments_snapshot`` is a dbt check-strategy snapshot: every
change of a person's memberships closes their open version (``dbt_valid_to``)
and opens a new one (``dbt_valid_from``) stamped with the snapshot run's time.
The distinct ``dbt_valid_from``/``dbt_valid_to`` values are therefore the
snapshot runs that changed something; "this run" is the latest of them and
"the previous run" the one before. The memberships as of a time ``T`` are the
versions with ``dbt_valid_from <= T`` and (``dbt_valid_to`` null or ``> T``).

For each dimension (age band, engagement tier, RFM segment, interest label,
propensity decile, persona) the two states are read as one contingency table
(previous label × current label, counted in SQL; no person-level rows leave
the database) and give:

- **Jaccard per segment value**: |previous ∩ current| / |previous ∪ current| of
  the segment's members. People who entered or left the snapshot count (a
  person who disappeared left every segment). A null label is no segment.
- **Adjusted Rand index** (``sklearn.metrics.adjusted_rand_score``) over the
  people present in both runs, a null label being a label of its own: 1 for the
  same partition, about 0 for a partition unrelated to the previous one.

The pure functions (:func:`jaccard_by_segment`, :func:`ari_from_pairs`) take
counts, so they are tested on known memberships without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

SNAPSHOT_TABLE = "snapshots.person_segments_snapshot"
STABILITY_DIMENSIONS = (
    "age_band",
    "engagement_tier",
    "rfm_segment",
    "interest_label",
    "propensity_decile",
    "persona_id",
)
NULL_LABEL = "<null>"
OVERALL = "*"

SEGMENT_STABILITY_DDL = """
create table if not exists ops.segment_stability (
    run_id               text not null,
    run_at               timestamptz not null,
    snapshot_at          timestamp not null,
    previous_snapshot_at timestamp not null,
    dimension            text not null,
    segment              text not null,
    jaccard              double precision,
    ari                  double precision,
    previous_size        integer not null,
    current_size         integer not null,
    kept                 integer not null,
    primary key (run_id, dimension, segment)
);
create index if not exists segment_stability_run_at_idx on ops.segment_stability (run_at);
comment on table ops.segment_stability is
    'Segment stability per gate run: Jaccard of each segment''s members and the adjusted Rand index '
    'of each dimension, between the last two runs of snapshots.person_segments_snapshot. '
    'segment = ''*'' is the dimension overall (ari; jaccard = size-weighted mean of its segments).';
"""

# (previous label or None, current label or None, in previous run, in current run) -> people
Pair = tuple[str | None, str | None, bool, bool]


@dataclass(frozen=True)
class SegmentStability:
    segment: str
    previous_size: int
    current_size: int
    kept: int

    @property
    def jaccard(self) -> float | None:
        union = self.previous_size + self.current_size - self.kept
        return self.kept / union if union else None


@dataclass(frozen=True)
class DimensionStability:
    dimension: str
    ari: float | None
    people_in_both: int
    entered: int
    left: int
    segments: tuple[SegmentStability, ...]

    @property
    def weighted_jaccard(self) -> float | None:
        pairs = [
            (s.jaccard, s.previous_size + s.current_size) for s in self.segments if s.jaccard is not None
        ]
        total = sum(w for _, w in pairs)
        return sum(j * w for j, w in pairs) / total if total else None


# --------------------------------------------------------------------------- pure functions


def jaccard_by_segment(pairs: Mapping[Pair, int]) -> tuple[SegmentStability, ...]:
    """Each (non-null) segment's previous size, current size and members kept, sorted by segment."""
    previous: dict[str, int] = {}
    current: dict[str, int] = {}
    kept: dict[str, int] = {}
    for (prev, cur, in_prev, in_cur), n in pairs.items():
        if in_prev and prev is not None:
            previous[prev] = previous.get(prev, 0) + n
        if in_cur and cur is not None:
            current[cur] = current.get(cur, 0) + n
        if in_prev and in_cur and prev is not None and prev == cur:
            kept[prev] = kept.get(prev, 0) + n
    segments = sorted(set(previous) | set(current))
    return tuple(SegmentStability(s, previous.get(s, 0), current.get(s, 0), kept.get(s, 0)) for s in segments)


def ari_from_pairs(pairs: Mapping[Pair, int]) -> float | None:
    """Adjusted Rand index of the people present in both runs (None when nobody is)."""
    import numpy as np  # noqa: PLC0415
    from sklearn.metrics import adjusted_rand_score  # noqa: PLC0415

    both = [
        (NULL_LABEL if prev is None else prev, NULL_LABEL if cur is None else cur, n)
        for (prev, cur, in_prev, in_cur), n in pairs.items()
        if in_prev and in_cur and n > 0
    ]
    if not both:
        return None
    counts = np.array([n for _, _, n in both])
    previous = np.repeat(np.array([p for p, _, _ in both], dtype=object), counts)
    current = np.repeat(np.array([c for _, c, _ in both], dtype=object), counts)
    return float(adjusted_rand_score(previous, current))


def dimension_stability(dimension: str, pairs: Mapping[Pair, int]) -> DimensionStability:
    return DimensionStability(
        dimension=dimension,
        ari=ari_from_pairs(pairs),
        people_in_both=sum(n for (_, _, p, c), n in pairs.items() if p and c),
        entered=sum(n for (_, _, p, c), n in pairs.items() if c and not p),
        left=sum(n for (_, _, p, c), n in pairs.items() if p and not c),
        segments=jaccard_by_segment(pairs),
    )


def pairs_from_labels(
    previous: Mapping[str, str | None], current: Mapping[str, str | None]
) -> dict[Pair, int]:
    """Count (previous, current) label pairs from two person → label maps (for tests and small data)."""
    pairs: dict[Pair, int] = {}
    for person in set(previous) | set(current):
        key = (previous.get(person), current.get(person), person in previous, person in current)
        pairs[key] = pairs.get(key, 0) + 1
    return pairs


# --------------------------------------------------------------------------- warehouse


def snapshot_times(conn: psycopg.Connection, table: str = SNAPSHOT_TABLE) -> list[datetime]:
    """The snapshot runs that changed something, latest first."""
    rows = conn.execute(
        f"select ts from (select dbt_valid_from as ts from {table} "  # noqa: S608 - constant table name
        f"union select dbt_valid_to from {table} where dbt_valid_to is not null) t "
        "order by ts desc limit 2"
    ).fetchall()
    return [r[0] for r in rows]


def snapshot_dimensions(conn: psycopg.Connection, table: str = SNAPSHOT_TABLE) -> list[str]:
    schema, name = table.split(".", 1)
    present = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema, name),
        ).fetchall()
    }
    return [d for d in STABILITY_DIMENSIONS if d in present]


def read_pairs(
    conn: psycopg.Connection,
    dimension: str,
    previous_at: datetime,
    current_at: datetime,
    table: str = SNAPSHOT_TABLE,
) -> dict[Pair, int]:
    """The (previous label, current label) contingency of one dimension between two snapshot times."""
    if dimension not in STABILITY_DIMENSIONS:
        raise ValueError(f"unknown stability dimension {dimension!r}; expected one of {STABILITY_DIMENSIONS}")
    state = (
        f"select person_id, {dimension}::text as label from {table} "  # noqa: S608 - checked names
        "where dbt_valid_from <= %s and (dbt_valid_to is null or dbt_valid_to > %s)"
    )
    rows = conn.execute(
        f"with prev as ({state}), cur as ({state}) "
        "select prev.label, cur.label, prev.person_id is not null, cur.person_id is not null, count(*) "
        "from prev full join cur on cur.person_id = prev.person_id group by 1, 2, 3, 4",
        (previous_at, previous_at, current_at, current_at),
    ).fetchall()
    return {(r[0], r[1], bool(r[2]), bool(r[3])): int(r[4]) for r in rows}


def ensure_stability_table(conn: psycopg.Connection) -> None:
    """Create ``ops.segment_stability`` (idempotent; does not commit)."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('audience.quality.segment_stability'))")
        cur.execute("create schema if not exists ops")
        cur.execute(SEGMENT_STABILITY_DDL)


def history_rows(
    run_id: str,
    run_at: datetime,
    snapshot_at: datetime,
    previous_at: datetime,
    results: Iterable[DimensionStability],
) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for dim in results:
        head = (run_id, run_at, snapshot_at, previous_at, dim.dimension)
        rows.append(
            (
                *head,
                OVERALL,
                dim.weighted_jaccard,
                dim.ari,
                dim.people_in_both + dim.left,
                dim.people_in_both + dim.entered,
                sum(s.kept for s in dim.segments),
            )
        )
        rows += [
            (*head, s.segment, s.jaccard, None, s.previous_size, s.current_size, s.kept) for s in dim.segments
        ]
    return rows


def record_history(conn: psycopg.Connection, run_id: str, rows: list[tuple[Any, ...]]) -> int:
    """Replace this run's rows of ``ops.segment_stability`` (does not commit)."""
    ensure_stability_table(conn)
    with conn.cursor() as cur:
        cur.execute("delete from ops.segment_stability where run_id = %s", (run_id,))
        cur.executemany(
            "insert into ops.segment_stability (run_id, run_at, snapshot_at, previous_snapshot_at, dimension, "
            "segment, jaccard, ari, previous_size, current_size, kept) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)
