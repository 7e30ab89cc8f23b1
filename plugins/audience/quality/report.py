"""The run report: one static HTML page per quality-gate run, readable without a server.

``write_report(conn, run_id)`` reads the warehouse and writes
``.local/reports/run_<run_id>.html`` (and the same page to ``.local/reports/latest.html``):

- the gate's verdict (``ops.validation_runs``: PASS/FAIL banner, failed checks first);
- segment and persona sizes (age bands, engagement tiers, RFM segments, interests, personas);
- score and propensity distributions (histograms; the latest model's held-out AUC);
- a 2-D map of the psychographic clusters (PCA of a deterministic sample of the latest run's
  author embeddings, coloured by cluster) and the k-selection curves (silhouette, inertia);
- stability over the last runs (``ops.segment_stability``: adjusted Rand index per dimension);
- KPIs per segment (``marts.segment_kpis``);
- the last sync per audience and destination (``ops.sync_runs``).

The page is self-contained: inline CSS, hand-written inline SVG, no script, no font, no external
resource (a Content-Security-Policy forbids them). Every value is HTML-escaped. Only aggregates,
ids, labels and counts are read: no column holding personal data is ever selected.

A table that is missing or empty gives its section a "not available" note, never an error: the
report is written after the gate whether it passed or failed, and must not fail the run itself.
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq

from audience.settings import local_dir

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"
LATEST_NAME = "latest.html"
SECTIONS: tuple[tuple[str, str], ...] = (
    ("validation", "Validation verdicts"),
    ("sizes", "Segment and persona sizes"),
    ("distributions", "Score and propensity distributions"),
    ("clusters", "Psychographic clusters"),
    ("stability", "Stability over the last runs"),
    ("kpis", "KPIs per segment"),
    ("sync", "Last sync per audience"),
)
SECTION_IDS = tuple(section_id for section_id, _ in SECTIONS)
MAP_SAMPLE = 2_000
HISTOGRAM_BINS = 20
STABILITY_RUNS = 20
MESSAGE_CHARS = 300

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#2f4b7c",
    "#a05195",
    "#665191",
)
NOISE_COLOUR = "#bab0ac"
AGE_BAND_ORDER = ("under_18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+", "unknown")
TIER_ORDER = ("hot", "warm", "cold")
NO_INTEREST = "(no known interest)"


def esc(value: Any) -> str:
    """Text fit for HTML (element content and quoted attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


# --------------------------------------------------------------------------- reading


class _Reader:
    """Queries on the caller's connection, each in its own transaction or savepoint."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self._columns: dict[str, set[str]] = {}

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(query, params)  # type: ignore[arg-type]
            return cur.fetchall()

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self.rows(query, params)
        return rows[0] if rows else None

    def columns(self, table: str) -> set[str]:
        """The columns of ``schema.table``; empty when the table does not exist."""
        if table not in self._columns:
            schema, name = table.split(".", 1)
            found = self.rows(
                "select column_name from information_schema.columns where table_schema = %s "
                "and table_name = %s",
                (schema, name),
            )
            self._columns[table] = {r[0] for r in found}
        return self._columns[table]

    def exists(self, table: str) -> bool:
        return bool(self.columns(table))


class _NotAvailable(Exception):
    """A section's data is missing; the message says which (no values in it)."""


def _require(reader: _Reader, table: str, columns: Iterable[str] = ()) -> None:
    present = reader.columns(table)
    if not present:
        raise _NotAvailable(f"{table} does not exist yet")
    missing = [c for c in columns if c not in present]
    if missing:
        raise _NotAvailable(f"{table} has no column {', '.join(missing)}")


# --------------------------------------------------------------------------- formatting


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "–"
    if digits == 0 and float(value).is_integer():
        return f"{int(value):,}".replace(",", "\u202f")
    return f"{float(value):,.{digits}f}".replace(",", "\u202f")


def _pct(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.{digits}f}\u00a0%"


def _eur(value: Any) -> str:
    return "–" if value is None else f"{_num(value, 2)}\u00a0€"


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "–" if value is None else str(value)


def _note(text: str) -> str:
    return f'<p class="na">{esc(text)}</p>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table; ``rows`` hold already-escaped HTML cells."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{esc(cls)}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {esc(kind)}">{esc(text)}</span>'


# --------------------------------------------------------------------------- SVG


def _svg(width: int, height: int, title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>{body}</svg>'
    )


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _tick_label(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:,.0f}k"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def bar_chart(items: Sequence[tuple[str, float]], title: str, *, colour: str = PALETTE[0]) -> str:
    """Horizontal bars, one per (label, value), with the value and share written beside each."""
    if not items:
        return _note("no rows")
    total = sum(v for _, v in items) or 1
    top = max(v for _, v in items) or 1
    label_w, bar_w, row_h = 150, 250, 22
    height = row_h * len(items) + 10
    parts = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * row_h
        w = max(1.0, bar_w * value / top) if value else 0
        text = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" class="lbl">{esc(text)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}">'
            f"<title>{esc(label)}: {esc(_num(value))}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" class="val">{esc(_num(value))} '
            f"({esc(_pct(value / total))})</text>"
        )
    return _svg(label_w + bar_w + 110, height, title, "".join(parts))


def histogram(
    values: Sequence[float],
    title: str,
    x_label: str,
    *,
    bins: int = HISTOGRAM_BINS,
    value_range: tuple[float, float] | None = None,
) -> str:
    """Counts of ``values`` in equal bins, as vertical bars with axes."""
    import numpy as np  # noqa: PLC0415

    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size == 0:
        return _note("no values")
    lo, hi = value_range or (float(data.min()), float(data.max()))
    if hi <= lo:
        hi = lo + 1
    counts, edges = np.histogram(data, bins=bins, range=(lo, hi))
    width, height, left, bottom, top_pad, right = 560, 240, 52, 40, 10, 12
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    peak = int(counts.max()) or 1
    y_ticks = _nice_ticks(0, peak, 4)
    y_max = max(y_ticks[-1] if y_ticks else peak, peak)

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    def sy(v: float) -> float:
        return top_pad + plot_h - v / y_max * plot_h

    parts = [_axes(left, top_pad, plot_w, plot_h)]
    for t in y_ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>'
            f'<text x="{left - 5}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{_tick_label(t)}</text>'
        )
    for t in _nice_ticks(lo, hi, 6):
        parts.append(
            f'<text x="{sx(t):.1f}" y="{top_pad + plot_h + 15}" text-anchor="middle" class="tick">'
            f"{_tick_label(t)}</text>"
        )
    for count, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        if not count:
            continue
        x0, x1 = sx(a), sx(b)
        parts.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{sy(count):.1f}" width="{max(x1 - x0 - 1, 0.5):.1f}" '
            f'height="{top_pad + plot_h - sy(count):.1f}" fill="{PALETTE[0]}">'
            f"<title>{esc(f'{a:.3g} – {b:.3g}')}: {int(count)}</title></rect>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 5}" text-anchor="middle" class="lbl">'
        f"{esc(x_label)}</text>"
    )
    return _svg(width, height, title, "".join(parts))


def _axes(left: float, top: float, plot_w: float, plot_h: float) -> str:
    return (
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" class="axis"/>'
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" class="axis"/>'
    )


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    *,
    x_label: str,
    y_label: str,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    y_range: tuple[float, float] | None = None,
    marks: Sequence[tuple[float, float, str]] = (),
) -> str:
    """Lines (one per series, with a legend) through (x, y) points; ``marks`` ring chosen points."""
    points = [p for pts in series.values() for p in pts if p[1] is not None and math.isfinite(p[1])]
    if not points:
        return _note("no values")
    width, height, left, bottom, top_pad, right = 540, 260, 58, 44, 12, 140
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    xs = [p[0] for p in points]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    y_lo, y_hi = y_range or (min(p[1] for p in points), max(p[1] for p in points))
    if y_hi <= y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5

    def sx(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * plot_w

    def sy(v: float) -> float:
        return top_pad + plot_h - (v - y_lo) / (y_hi - y_lo) * plot_h

    parts = [_axes(left, top_pad, plot_w, plot_h)]
    for t in _nice_ticks(y_lo, y_hi, 4):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>'
            f'<text x="{left - 5}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{_tick_label(t)}</text>'
        )
    ticks = x_ticks if x_ticks is not None else [(t, _tick_label(t)) for t in _nice_ticks(x_lo, x_hi, 8)]
    for x, label in ticks:
        parts.append(
            f'<text x="{sx(x):.1f}" y="{top_pad + plot_h + 15}" text-anchor="middle" class="tick">'
            f"{esc(label)}</text>"
        )
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        good = sorted((x, y) for x, y in pts if y is not None and math.isfinite(y))
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in good:
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                f"<title>{esc(name)}: {esc(_tick_label(x))} → {y:.4g}</title></circle>"
            )
        ly = top_pad + 8 + i * 18
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{ly - 8}" width="12" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 30}" y="{ly + 1}" class="lbl">{esc(name[:18])}</text>'
        )
    for x, y, label in marks:
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="7" fill="none" stroke="#222" stroke-width="1.5">'
            f"<title>{esc(label)}</title></circle>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" class="lbl">'
        f"{esc(x_label)}</text>"
        f'<text x="14" y="{top_pad + plot_h / 2:.0f}" text-anchor="middle" class="lbl" '
        f'transform="rotate(-90 14 {top_pad + plot_h / 2:.0f})">{esc(y_label)}</text>'
    )
    return _svg(width, height, title, "".join(parts))


def scatter(points: Sequence[tuple[float, float, int]], colours: Sequence[str], title: str) -> str:
    """Points (x, y, colour index) in a square plot with a thin frame."""
    if not points:
        return _note("no points")
    size, pad = 520, 14
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_lo, x_hi, y_lo, y_hi = min(xs), max(xs), min(ys), max(ys)
    span = max(x_hi - x_lo, y_hi - y_lo) or 1.0
    cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2

    def sx(v: float) -> float:
        return size / 2 + (v - cx) / span * (size - 2 * pad)

    def sy(v: float) -> float:
        return size / 2 - (v - cy) / span * (size - 2 * pad)

    parts = [f'<rect x="0.5" y="0.5" width="{size - 1}" height="{size - 1}" fill="#fff" class="frame"/>']
    parts += [
        f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.6" fill="{colours[c]}" fill-opacity="0.75"/>'
        for x, y, c in points
    ]
    return _svg(size, size, title, "".join(parts))


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class Verdict:
    """The gate's verdict on one run, from ``ops.validation_runs``."""

    run_id: str
    status: str  # PASS, FAIL, NO VERDICT
    checks: int = 0
    failed: int = 0
    blocking: int = 0
    run_at: datetime | None = None


def _resolve_run(reader: _Reader, run_id: str | None) -> tuple[str | None, datetime | None]:
    """The run to report: the one asked for, else the gate's latest recorded run."""
    if not reader.exists("ops.validation_runs"):
        return run_id, None
    if run_id is None:
        row = reader.one(
            "select run_id, max(run_at) from ops.validation_runs group by run_id order by 2 desc, 1 desc limit 1"
        )
        return (row[0], row[1]) if row else (None, None)
    row = reader.one("select max(run_at) from ops.validation_runs where run_id = %s", (run_id,))
    return run_id, row[0] if row else None


_VALIDATION_SQL = """
select suite, table_name, check_name, success, severity, message
from ops.validation_runs
where run_id = %s
order by success, case severity when 'critical' then 0 when 'warning' then 1 else 2 end,
         suite, table_name, check_name
"""


def _validation(reader: _Reader, run_id: str | None) -> tuple[str, Verdict]:
    if run_id is None:
        verdict = Verdict("", "NO VERDICT")
        return _note(
            "No quality-gate run is recorded yet (ops.validation_runs is missing or empty)."
        ), verdict
    if not reader.exists("ops.validation_runs"):
        verdict = Verdict(run_id, "NO VERDICT")
        return _note("No quality-gate run is recorded yet (ops.validation_runs does not exist)."), verdict
    rows = reader.rows(_VALIDATION_SQL, (run_id,))
    if not rows:
        verdict = Verdict(run_id, "NO VERDICT")
        return _note(f"The gate recorded no check for run {run_id}."), verdict
    failed = [r for r in rows if not r[3]]
    blocking = [r for r in failed if r[4] == "critical"]
    verdict = Verdict(run_id, "FAIL" if blocking else "PASS", len(rows), len(failed), len(blocking))

    suites: dict[tuple[str, str], list[int]] = {}
    for suite, table, _check, success, severity, _msg in rows:
        counts = suites.setdefault((suite, table), [0, 0, 0])
        counts[0] += 1
        counts[1] += 0 if success else 1
        counts[2] += 1 if (not success and severity == "critical") else 0
    summary = _table(
        ("suite", "table", "checks", "failed", "blocking", "verdict"),
        [
            (
                esc(suite),
                esc(table),
                _num(n),
                _num(f),
                _num(b),
                _badge("FAIL", "fail") if b else _badge("PASS", "pass") if not f else _badge("WARN", "warn"),
            )
            for (suite, table), (n, f, b) in sorted(
                suites.items(), key=lambda kv: (-kv[1][2], -kv[1][1], kv[0])
            )
        ],
    )

    def check_rows(items: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
        out = []
        for suite, table, check, success, severity, message in items:
            status = (
                _badge("passed", "pass")
                if success
                else _badge("FAILED", "fail" if severity == "critical" else "warn")
            )
            text = str(message or "")
            if len(text) > MESSAGE_CHARS:
                text = text[: MESSAGE_CHARS - 1] + "…"
            out.append(
                (status, esc(suite), esc(table), f"<code>{esc(check)}</code>", esc(severity), esc(text))
            )
        return out

    headers = ("result", "suite", "table", "check", "severity", "message")
    passed = [r for r in rows if r[3]]
    parts = [summary]
    if failed:
        parts.append(f"<h3>Failed checks ({len(failed)})</h3>")
        parts.append(_table(headers, check_rows(failed), cls="checks"))
    else:
        parts.append("<p>Every check passed.</p>")
    if passed:
        parts.append(
            f"<details><summary>Passed checks ({len(passed)})</summary>"
            f"{_table(headers, check_rows(passed), cls='checks')}</details>"
        )
    return "".join(parts), verdict


def _counts(reader: _Reader, table: str, column: str) -> list[tuple[str | None, int]]:
    _require(reader, table, (column,))
    query = f"select {column}, count(*) from {table} group by 1"  # names are constants of this module
    return [(r[0], int(r[1])) for r in reader.rows(query)]


def _ordered(items: list[tuple[str | None, int]], order: Sequence[str] = ()) -> list[tuple[str, float]]:
    rank = {v: i for i, v in enumerate(order)}
    named = [(NO_INTEREST if label is None else str(label), n) for label, n in items]
    return sorted(named, key=lambda kv: (rank.get(kv[0], len(rank)), -kv[1], kv[0]))


def _sizes(reader: _Reader) -> str:
    blocks = []
    specs = (
        ("Age bands", "marts.seg_age_band", "age_band", AGE_BAND_ORDER),
        ("Engagement tiers", "marts.person_engagement", "engagement_tier", TIER_ORDER),
        ("RFM segments", "marts.person_rfm", "rfm_segment", ()),
        ("Interests", "marts.person_psychographics", "interest_label", ()),
    )
    for i, (title, table, column, order) in enumerate(specs):
        try:
            items = _ordered(_counts(reader, table, column), order)
            chart = bar_chart(items, f"{title} ({table})", colour=PALETTE[i])
            total = sum(v for _, v in items)
            body = f"{chart}<p class='small'>{esc(_num(total))} people in {esc(table)}</p>"
        except (_NotAvailable, psycopg.Error) as exc:
            body = _na_body(exc, table)
        blocks.append(f'<div class="card"><h3>{esc(title)}</h3>{body}</div>')
    grid = f'<div class="grid">{"".join(blocks)}</div>'
    try:
        _require(reader, "marts.personas", ("persona_id", "persona_size", "description"))
        level = "persona_level" if "persona_level" in reader.columns("marts.personas") else "null::int"
        rows = reader.rows(
            f"select persona_id, {level}, persona_size, description from marts.personas "
            "order by persona_size desc, persona_id"
        )
        if rows:
            personas = _table(
                ("persona", "level", "people", "description"),
                [(f"<code>{esc(p)}</code>", esc(lv), _num(n), esc(d)) for p, lv, n, d in rows],
            )
            personas = f"<p class='small'>{len(rows)} personas.</p>{personas}"
        else:
            personas = _note("marts.personas is empty.")
    except (_NotAvailable, psycopg.Error) as exc:
        personas = _na_body(exc, "marts.personas")
    return f"{grid}<h3>Personas</h3>{personas}"


def _na_body(exc: BaseException, table: str) -> str:
    if isinstance(exc, _NotAvailable):
        return _note(f"Not available: {exc}.")
    log.warning("report: %s could not be read (%s)", table, type(exc).__name__)
    return _note(f"Not available: {table} could not be read ({type(exc).__name__}).")


def _describe(values: Sequence[float]) -> str:
    import numpy as np  # noqa: PLC0415

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return ""
    p10, median, p90 = np.percentile(data, [10, 50, 90])
    return (
        f"<p class='small'>n = {esc(_num(data.size))} · mean {data.mean():.3g} · median {median:.3g} · "
        f"p10 {p10:.3g} · p90 {p90:.3g}</p>"
    )


def _distributions(reader: _Reader) -> str:
    blocks = []
    specs = (
        ("Engagement score", "marts.person_engagement", "engagement_score", None),
        ("Purchase propensity", "marts.person_propensity", "purchase_propensity", (0.0, 1.0)),
    )
    for title, table, column, value_range in specs:
        try:
            _require(reader, table, (column,))
            values = [
                float(r[0]) for r in reader.rows(f"select {column} from {table} where {column} is not null")
            ]
            body = histogram(values, f"{title} ({table}.{column})", column, value_range=value_range)
            body += _describe(values)
        except (_NotAvailable, psycopg.Error) as exc:
            body = _na_body(exc, table)
        blocks.append(f'<div class="card"><h3>{esc(title)}</h3>{body}</div>')
    try:
        _require(reader, "ml.model_runs", ("run_id", "model", "trained_at", "auc_holdout"))
        row = reader.one(
            "select run_id, model, trained_at, auc_holdout from ml.model_runs order by trained_at desc limit 1"
        )
        if row:
            run, model, trained_at, auc = row
            model_html = (
                f"<p>Latest model <code>{esc(model)}</code> (run <code>{esc(run)}</code>, trained "
                f"{esc(_when(trained_at))}): held-out AUC <strong class='figure'>"
                f"{esc(_num(auc, 3))}</strong>.</p>"
            )
        else:
            model_html = _note("No model run recorded in ml.model_runs.")
    except (_NotAvailable, psycopg.Error) as exc:
        model_html = _na_body(exc, "ml.model_runs")
    return f'<div class="grid">{"".join(blocks)}</div>{model_html}'


def parse_vector(text: str) -> list[float]:
    """A pgvector ``vector`` ('[1,2]') or a ``real[]`` ('{1,2}') read as text, as floats."""
    inner = text.strip().strip("[]{}")
    return [float(v) for v in inner.split(",")] if inner.strip() else []


def project_2d(vectors: Sequence[Sequence[float]]) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """PCA to two dimensions (deterministic signs) and the variance share of each component."""
    import numpy as np  # noqa: PLC0415

    x = np.asarray(vectors, dtype=float)
    x = x - x.mean(axis=0)
    _u, s, vt = np.linalg.svd(x, full_matrices=False)
    components = vt[:2]
    for row in components:  # the largest loading positive: the same picture run after run
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    coords = x @ components.T
    if coords.shape[1] < 2:
        coords = np.hstack([coords, np.zeros((coords.shape[0], 2 - coords.shape[1]))])
    total = float((s**2).sum()) or 1.0
    share = [float(v) / total for v in (s[:2] ** 2)] + [0.0, 0.0]
    return [(float(a), float(b)) for a, b in coords], (share[0], share[1])


def _latest_psychographic_run(reader: _Reader) -> str | None:
    if reader.exists("ml.psychographic_runs"):
        row = reader.one(
            "select run_id from ml.psychographic_runs order by finished_at desc, run_id desc limit 1"
        )
        if row:
            return row[0]
    row = reader.one("select run_id from ml.author_embeddings order by created_at desc, run_id desc limit 1")
    return row[0] if row else None


def _cluster_names(reader: _Reader, run: str) -> dict[int, tuple[str, str | None, int | None]]:
    """cluster id → (name, interest label, size)."""
    names: dict[int, tuple[str, str | None, int | None]] = {}
    if reader.exists("ml.interest_clusters"):
        for cid, name, size in reader.rows(
            "select cluster_id, cluster_name, size from ml.interest_clusters where run_id = %s", (run,)
        ):
            names[int(cid)] = (str(name), None, size)
    marts = reader.columns("marts.interest_clusters")
    if {"interest_cluster_id", "interest_cluster_name", "interest_label"} <= marts:
        for cid, name, label, size in reader.rows(
            "select interest_cluster_id, interest_cluster_name, interest_label, author_count "
            "from marts.interest_clusters"
        ):
            old = names.get(int(cid))
            names[int(cid)] = (old[0] if old else str(name), label, old[2] if old else size)
    return names


def _clusters(reader: _Reader) -> str:
    parts = []
    try:
        _require(reader, "ml.author_embeddings", ("run_id", "platform", "author_id", "embedding"))
        run = _latest_psychographic_run(reader)
        if run is None:
            raise _NotAvailable("ml.author_embeddings is empty")
        joined = {"run_id", "platform", "author_id", "cluster_id"} <= reader.columns("ml.author_clusters")
        cluster = "c.cluster_id" if joined else "null::int"
        join = (
            "left join ml.author_clusters c on c.platform = e.platform and c.author_id = e.author_id "
            "and c.run_id = e.run_id"
            if joined
            else ""
        )
        total = reader.one("select count(*) from ml.author_embeddings where run_id = %s", (run,))
        rows = reader.rows(
            f"select e.embedding::text, {cluster} from ml.author_embeddings e {join} where e.run_id = %s "
            "order by md5(e.platform || ':' || e.author_id), e.platform, e.author_id limit %s",
            (run, MAP_SAMPLE),
        )
        vectors = [parse_vector(r[0]) for r in rows]
        dims = {len(v) for v in vectors}
        if not rows or len(dims) != 1 or 0 in dims:
            raise _NotAvailable(f"the embeddings of run {run} are empty or of mixed dimensions")
        coords, share = project_2d(vectors)
        names = _cluster_names(reader, run)
        ids = sorted({r[1] for r in rows if r[1] is not None})
        colour_of = {cid: i for i, cid in enumerate(ids)}
        colours = [PALETTE[i % len(PALETTE)] for i in range(len(ids))] + [NOISE_COLOUR]
        noise = len(ids)
        points = [(x, y, colour_of.get(r[1], noise)) for (x, y), r in zip(coords, rows, strict=True)]
        counts: dict[int | None, int] = {}
        for r in rows:
            counts[r[1]] = counts.get(r[1], 0) + 1
        legend = []
        for cid in ids:
            name, label, size = names.get(cid, (f"cluster {cid}", None, None))
            legend.append(
                f'<li><span class="swatch" style="background:{colours[colour_of[cid]]}"></span>'
                f"<strong>{esc(cid)}</strong> {esc(name)}"
                + (f" <em>({esc(label)})</em>" if label else "")
                + f" <span class='small'>{esc(_num(counts[cid]))} shown"
                + (f" of {esc(_num(size))}" if size is not None else "")
                + "</span></li>"
            )
        if None in counts:
            legend.append(
                f'<li><span class="swatch" style="background:{NOISE_COLOUR}"></span>no cluster '
                f"<span class='small'>{esc(_num(counts[None]))} shown</span></li>"
            )
        title = f"Authors of run {run} projected on two principal components"
        parts.append(
            f"<p class='small'>Run <code>{esc(run)}</code>: {esc(_num(len(rows)))} of "
            f"{esc(_num(total[0] if total else len(rows)))} author embeddings (dimension {dims.pop()}; a "
            f"deterministic sample), PCA to 2-D: the axes hold {share[0] * 100:.0f}\u00a0% and "
            f"{share[1] * 100:.0f}\u00a0% of the variance.</p>"
            f'<div class="map">{scatter(points, colours, title)}<ul class="legend">{"".join(legend)}</ul></div>'
        )
    except (_NotAvailable, psycopg.Error) as exc:
        parts.append(_na_body(exc, "ml.author_embeddings"))
    parts.append("<h3>Choosing k</h3>")
    try:
        _require(reader, "ml.cluster_selection", ("algorithm", "k", "silhouette", "inertia", "is_chosen"))
        has_run = "run_id" in reader.columns("ml.cluster_selection")
        rows = []
        if has_run:
            latest = reader.one(
                "select run_id from ml.cluster_selection order by created_at desc, run_id desc limit 1"
                if "created_at" in reader.columns("ml.cluster_selection")
                else "select max(run_id) from ml.cluster_selection"
            )
            if latest:
                rows = reader.rows(
                    "select algorithm, k, silhouette, inertia, is_chosen from ml.cluster_selection "
                    "where run_id = %s order by algorithm, k",
                    (latest[0],),
                )
        else:
            rows = reader.rows(
                "select algorithm, k, silhouette, inertia, is_chosen from ml.cluster_selection order by algorithm, k"
            )
        if not rows:
            raise _NotAvailable("ml.cluster_selection is empty")
        silhouette: dict[str, list[tuple[float, float]]] = {}
        inertia: dict[str, list[tuple[float, float]]] = {}
        chosen = [(r[0], r[1], r[2], r[3]) for r in rows if r[4]]
        for algorithm, k, sil, ine, _c in rows:
            if sil is not None:
                silhouette.setdefault(str(algorithm), []).append((float(k), float(sil)))
            if ine is not None:
                inertia.setdefault(str(algorithm), []).append((float(k), float(ine)))
        text = "no k was marked as chosen"
        sil_marks: list[tuple[float, float, str]] = []
        ine_marks: list[tuple[float, float, str]] = []
        if chosen:
            algorithm, k, sil, ine = chosen[0]
            text = f"chosen: k = {k} ({algorithm}, silhouette {_num(sil, 3)})"
            if sil is not None:
                sil_marks.append((float(k), float(sil), text))
            if ine is not None:
                ine_marks.append((float(k), float(ine), text))
        parts.append(
            f"<p>{esc(text)}. The silhouette should peak and the inertia bend (the elbow) near the chosen k.</p>"
            '<div class="grid"><div class="card">'
            + line_chart(silhouette, "Silhouette by k", x_label="k", y_label="silhouette", marks=sil_marks)
            + '</div><div class="card">'
            + line_chart(inertia, "Inertia by k", x_label="k", y_label="inertia", marks=ine_marks)
            + "</div></div>"
        )
    except (_NotAvailable, psycopg.Error) as exc:
        parts.append(_na_body(exc, "ml.cluster_selection"))
    return "".join(parts)


STABILITY_TABLE = "ops.segment_stability"


def _stability(reader: _Reader) -> str:
    if not reader.exists(STABILITY_TABLE):
        return _note("No previous run yet: stability is measured from the second run on.")
    _require(reader, STABILITY_TABLE, ("run_id", "run_at", "dimension", "ari"))
    rows = reader.rows(
        f"select run_id, max(run_at), dimension, avg(ari) from {STABILITY_TABLE} "
        "where ari is not null group by run_id, dimension"
    )
    if not rows:
        return _note("No previous run yet: stability is measured from the second run on.")
    runs = sorted({(r[1], r[0]) for r in rows})[-STABILITY_RUNS:]
    index = {run_id: i for i, (_at, run_id) in enumerate(runs)}
    series: dict[str, list[tuple[float, float]]] = {}
    for run_id, _at, dimension, ari in rows:
        if run_id in index:
            series.setdefault(str(dimension), []).append((float(index[run_id]), float(ari)))
    step = max(1, math.ceil(len(runs) / 8))
    ticks = [
        (float(i), at.strftime("%m-%d %H:%M") if isinstance(at, datetime) else str(run_id)[:12])
        for i, (at, run_id) in enumerate(runs)
        if i % step == 0 or i == len(runs) - 1
    ]
    chart = line_chart(
        dict(sorted(series.items())),
        "Adjusted Rand index per dimension, run after run",
        x_label="run (time, UTC)",
        y_label="ARI vs previous run",
        x_ticks=ticks,
        y_range=(min(0.0, min(p[1] for pts in series.values() for p in pts)), 1.0),
    )
    latest_at, latest_run = runs[-1]
    parts = [
        f"<p class='small'>{len(runs)} run(s); latest <code>{esc(latest_run)}</code> at "
        f"{esc(_when(latest_at))}. 1 = the same segmentation as the run before.</p>",
        chart,
    ]
    if "segment" in reader.columns(STABILITY_TABLE) and "jaccard" in reader.columns(STABILITY_TABLE):
        worst = reader.rows(
            f"select dimension, segment, jaccard from {STABILITY_TABLE} where run_id = %s "
            "and jaccard is not null order by jaccard, dimension, segment limit 15",
            (latest_run,),
        )
        if worst:
            parts.append("<h3>Least stable segments of the latest run (Jaccard with the previous run)</h3>")
            parts.append(
                _table(
                    ("dimension", "segment", "Jaccard"), [(esc(d), esc(s), _num(j, 3)) for d, s, j in worst]
                )
            )
    return "".join(parts)


KPI_COLUMNS = (
    ("persons", "people", _num),
    ("engagement_rate", "engagement", _pct),
    ("conversion_rate", "conversion", _pct),
    ("aov_eur", "avg order", _eur),
    ("avg_clv_eur", "avg CLV", _eur),
    ("retention_rate", "retention", _pct),
    ("ctr", "CTR", lambda v: _pct(v, 2)),
    ("cpc", "CPC", _eur),
)


def _kpis(reader: _Reader) -> str:
    _require(reader, "marts.segment_kpis", ("segment_type", "segment_value"))
    present = reader.columns("marts.segment_kpis")
    cols = [c for c in KPI_COLUMNS if c[0] in present]
    select = ", ".join(["segment_type", "segment_value", *(c[0] for c in cols)])
    order = "persons desc nulls last, " if "persons" in present else ""
    rows = reader.rows(f"select {select} from marts.segment_kpis order by segment_type, {order}segment_value")
    if not rows:
        return _note("Not available: marts.segment_kpis is empty.")
    by_type: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_type.setdefault(str(row[0]), []).append(row)
    parts = [
        "<p class='small'>Engagement: visited in the window; conversion: visitors who bought; retention: "
        "ordered in the previous window and again in this one; CTR and CPC from the ads' age × gender "
        "cells (segments cut by age band, gender or persona only).</p>"
    ]
    for segment_type, items in by_type.items():
        parts.append(f"<h3>{esc(segment_type)}</h3>")
        parts.append(
            _table(
                ("segment", *(c[1] for c in cols)),
                [
                    (
                        esc(NO_INTEREST if r[1] is None else r[1]),
                        *(esc(c[2](v)) for c, v in zip(cols, r[2:], strict=True)),
                    )
                    for r in items
                ],
                cls="num",
            )
        )
    return "".join(parts)


SYNC_COUNTS = ("desired", "added", "removed", "unchanged", "invalid", "matched")


def _sync(reader: _Reader) -> str:
    audiences: dict[str, tuple[Any, ...]] = {}
    catalogue = reader.columns("marts.audiences")
    if {"audience_key", "name"} <= catalogue:
        dest = "destinations" if "destinations" in catalogue else "null::text[]"
        members = "member_count" if "member_count" in catalogue else "null::bigint"
        syncable = "is_syncable" if "is_syncable" in catalogue else "null::boolean"
        for key, name, destinations, count, is_syncable in reader.rows(
            f"select audience_key, name, {dest}, {members}, {syncable} from marts.audiences order by audience_key"
        ):
            audiences[str(key)] = (name, destinations or [], count, is_syncable)
    runs = reader.columns("ops.sync_runs")
    last: dict[tuple[str, str], dict[str, Any]] = {}
    if {"audience_key", "destination", "outcome", "started_at"} <= runs:
        cols = [c for c in (*SYNC_COUNTS, "finished_at", "message") if c in runs]
        select = ", ".join(["audience_key", "destination", "outcome", "started_at", *cols])
        for row in reader.rows(
            f"select distinct on (audience_key, destination) {select} from ops.sync_runs "
            "order by audience_key, destination, started_at desc"
        ):
            record = dict(
                zip(["audience_key", "destination", "outcome", "started_at", *cols], row, strict=True)
            )
            last[(str(record["audience_key"]), str(record["destination"]))] = record
    if not audiences and not last:
        raise _NotAvailable("neither marts.audiences nor ops.sync_runs holds anything yet")
    shown = [c for c in SYNC_COUNTS if c in runs]
    keys = sorted({(k, d) for k, (_n, dests, _c, _s) in audiences.items() for d in dests} | set(last))
    for key in audiences:
        if not any(k == key for k, _d in keys):
            keys.append((key, ""))
    keys.sort()
    rows = []
    for key, destination in keys:
        name, _dests, count, syncable = audiences.get(key, (key, [], None, None))
        record = last.get((key, destination))
        audience = f"{esc(name)}<br><code class='small'>{esc(key)}</code>"
        size = _num(count) + (
            ""
            if syncable is None
            else (" " + _badge("syncable", "pass") if syncable else " " + _badge("too small", "warn"))
        )
        if record is None:
            rows.append(
                (
                    audience,
                    esc(destination or "–"),
                    size,
                    _badge("never synced", "none"),
                    *("–" for _ in shown),
                    "–",
                    "",
                )
            )
            continue
        outcome = str(record["outcome"])
        kind = {"synced": "pass", "unchanged": "pass", "failed": "fail", "locked": "warn"}.get(
            outcome, "warn"
        )
        message = str(record.get("message") or "")
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 1] + "…"
        rows.append(
            (
                audience,
                esc(destination),
                size,
                _badge(outcome, kind),
                *(esc(_num(record.get(c))) for c in shown),
                f'<span class="nowrap">{esc(_when(record.get("finished_at") or record["started_at"]))}</span>',
                esc(message),
            )
        )
    table = _table(("audience", "destination", "members", "outcome", *shown, "time", "message"), rows)
    note = "" if runs else _note("No sync has run yet (ops.sync_runs does not exist).")
    return note + table


# --------------------------------------------------------------------------- page

CSS = """
:root{--fg:#1d232a;--muted:#5b6670;--line:#d8dde2;--pass:#1e7b3c;--fail:#b3261e;--warn:#a15c00}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0;background:#f6f7f9}
header{background:#fff;border-bottom:1px solid var(--line);padding:16px 28px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:0 0 12px}h3{font-size:15px;margin:16px 0 8px}
main{padding:8px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:16px 20px;margin:16px 0}
nav ul{list-style:none;padding:0;margin:8px 0 0;display:flex;flex-wrap:wrap;gap:6px 16px}
nav a{color:#2f5d8a}
.banner{font-size:20px;font-weight:700;padding:10px 16px;border-radius:6px;color:#fff;margin:10px 0 0}
.banner.pass{background:var(--pass)}.banner.fail{background:var(--fail)}.banner.none{background:#6c757d}
.nowrap,.badge{white-space:nowrap}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.pass{background:var(--pass)}.badge.fail{background:var(--fail)}.badge.warn{background:var(--warn)}
.badge.none{background:#8a949e}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
table.num td+td{text-align:right;font-variant-numeric:tabular-nums}
table.checks td:last-child{max-width:520px;word-break:break-word}
td code{white-space:nowrap}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.na{color:var(--muted);font-style:italic}
.small{color:var(--muted);font-size:12px}
.meta{color:var(--muted)}
.figure{font-size:18px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;background:#fcfcfd}
.map{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.legend{list-style:none;padding:0;margin:0}.legend li{margin:3px 0}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:middle}
svg{max-width:100%;height:auto;font-size:11px}
svg .axis{stroke:#6b7680}svg .grid{stroke:#e3e7eb}svg .frame{stroke:var(--line)}
svg .tick,svg .val{fill:#4a545e}svg .lbl{fill:#1d232a}
details summary{cursor:pointer;margin:8px 0;color:#2f5d8a}
"""

# No script, no external resource: the page is one file that opens anywhere (file://, a mail, a share).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _section_html(section_id: str, title: str, body: str) -> str:
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{body}</section>'


def render_report(conn: psycopg.Connection, run_id: str | None = None) -> tuple[str, Verdict]:
    """The report's HTML for ``run_id`` (default: the gate's latest run) and the run's verdict."""
    if conn.info.transaction_status == pq.TransactionStatus.INERROR:
        log.warning("report: the connection's transaction had failed; rolling it back to read")
        conn.rollback()
    reader = _Reader(conn)
    run_at = None
    try:
        run_id, run_at = _resolve_run(reader, run_id)
    except psycopg.Error as exc:
        log.warning("report: ops.validation_runs could not be read (%s)", type(exc).__name__)
    verdict = Verdict(run_id or "", "NO VERDICT")
    bodies: dict[str, str] = {}
    builders: dict[str, Callable[[], str]] = {
        "sizes": lambda: _sizes(reader),
        "distributions": lambda: _distributions(reader),
        "clusters": lambda: _clusters(reader),
        "stability": lambda: _stability(reader),
        "kpis": lambda: _kpis(reader),
        "sync": lambda: _sync(reader),
    }
    missing = 0
    for section_id, _title in SECTIONS:
        try:
            if section_id == "validation":
                bodies[section_id], verdict = _validation(reader, run_id)
            else:
                bodies[section_id] = builders[section_id]()
        except _NotAvailable as exc:
            missing += 1
            bodies[section_id] = _note(f"Not available: {exc}.")
        except Exception as exc:  # a report never fails the run: the section says what is missing
            missing += 1
            log.warning("report: section %s not available (%s)", section_id, type(exc).__name__)
            bodies[section_id] = _note(f"Not available: could not be read ({type(exc).__name__}).")
    verdict = Verdict(
        verdict.run_id, verdict.status, verdict.checks, verdict.failed, verdict.blocking, run_at
    )

    as_of = os.environ.get("AUDIENCE_AS_OF_DATE") or date.today().isoformat()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    kind = {"PASS": "pass", "FAIL": "fail"}.get(verdict.status, "none")
    if verdict.status == "NO VERDICT":
        banner_text = "NO VERDICT — the quality gate has not recorded this run"
    elif verdict.status == "FAIL":
        banner_text = (
            f"FAIL — {verdict.blocking} critical check(s) failed of {verdict.checks}: nothing is synced"
        )
    else:
        warnings = f", {verdict.failed} warning(s)" if verdict.failed else ""
        banner_text = f"PASS — {verdict.checks} checks{warnings}: the audiences may be synced"
    nav = "".join(f'<li><a href="#{esc(s)}">{esc(t)}</a></li>' for s, t in SECTIONS)
    sections = "".join(_section_html(s, t, bodies[s]) for s, t in SECTIONS)
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Audience run report · {esc(verdict.run_id or 'no run')} · {esc(verdict.status)}</title>"
        f"<style>{CSS}</style></head><body>"
        "<header><h1>Audience run report</h1>"
        f'<div class="meta">run <code>{esc(verdict.run_id or "–")}</code> · gate ran {esc(_when(run_at))} · '
        f"as of {esc(as_of)} · warehouse <code>{esc(conn.info.dbname)}</code> · generated {esc(generated)}</div>"
        f'<div class="banner {kind}" id="verdict" data-verdict="{esc(verdict.status)}">{esc(banner_text)}</div>'
        f"<nav><ul>{nav}</ul></nav></header>"
        f"<main>{sections}</main></body></html>\n"
    )
    if missing:
        log.info("report: %d of %d sections not available", missing, len(SECTIONS))
    return page, verdict


def _safe_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("._") or "run"


def _write_atomic(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
    ) as f:
        f.write(text)
        tmp = Path(f.name)
    os.replace(tmp, path)


def report_path_for(run_id: str, out_dir: Path | None = None) -> Path:
    """Where the report of gate run ``run_id`` is written."""
    directory = Path(out_dir) if out_dir is not None else local_dir() / REPORTS_DIR
    return directory / f"run_{_safe_name(run_id)}.html"


def write_report(conn: psycopg.Connection, run_id: str | None = None, *, out_dir: Path | None = None) -> Path:
    """Write the run's report to ``<out_dir>/run_<run_id>.html`` and ``<out_dir>/latest.html``.

    ``out_dir`` defaults to ``.local/reports`` (``AUDIENCE_LOCAL_DIR``); ``run_id`` to the gate's latest
    run in ``ops.validation_runs`` (or a timestamp when there is none). Never raises for missing or
    empty tables: their sections say "not available". Returns the run's file.
    """
    started = time.monotonic()
    page, verdict = render_report(conn, run_id)
    name = verdict.run_id or run_id or f"adhoc_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    path = report_path_for(name, out_dir)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, page)
    _write_atomic(directory / LATEST_NAME, page)
    log.info(
        "report: run %s %s (%d checks, %d failed) written to %s (%d KB) in %.1fs",
        name,
        verdict.status,
        verdict.checks,
        verdict.failed,
        path,
        len(page.encode()) // 1024,
        time.monotonic() - started,
    )
    return path


def write_warehouse_report(run_id: str | None = None, *, out_dir: Path | None = None) -> Path:
    """``write_report`` on a fresh connection to the warehouse (for the Airflow task)."""
    from audience.warehouse import connect  # noqa: PLC0415

    with connect(autocommit=True) as conn:
        return write_report(conn, run_id, out_dir=out_dir)
