"""Work that is skipped when its inputs have not changed since it last succeeded.

An hourly ingest that finds nothing new must not cost a full rebuild. Three steps of
``build_segments`` keep a fingerprint of what they read, in ``ops.stage_runs``:

| step | its inputs |
|---|---|
| ``psychographic`` | ``raw.facebook__comments``, ``raw.linkedin__comments``; the ML code |
| ``propensity`` | ``raw.web_events__events``, ``raw.hubspot__contacts``, ``raw.hubspot__deals``; the ML code; the as-of date |
| ``segments`` (dbt build + quality gate) | every ``raw`` table; the last recorded run of each ML step; the dbt project, the audience catalogue, the expectations and the gate's code; the as-of date |

A raw table's part of the fingerprint is what the ingest ledger (``ops.ingest_batches``) says
of it: the batches that loaded or rejected rows (how many, their rows and rejects, the newest).
Every loader records its batch there in the transaction that writes its rows; rows written
around the loaders (by hand, with psql) are not seen: trigger the build with ``force``. The as-of
date is ``AUDIENCE_AS_OF_DATE`` when set, else today (UTC): models that count days from today
rebuild once a day even when nothing new arrived. Code is hashed file by file.

A step records its fingerprint only when it finished: the ML steps when their model was
written, ``segments`` when the quality gate judged the build (with its verdict: the same inputs
after a failed gate fail at once, see ``pipeline.segments_changed``). A failed or never-run step
always runs. ``force=True`` runs it anyway (the DAG's ``force`` param).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

STAGE_RUNS_DDL = """
create table if not exists ops.stage_runs (
    stage_run_id bigserial primary key,
    stage        text not null,
    fingerprint  text not null,
    inputs       jsonb not null,
    summary      jsonb,
    finished_at  timestamptz not null default now()
);
create index if not exists stage_runs_stage on ops.stage_runs (stage, stage_run_id desc);
"""

STAGES = ("psychographic", "propensity", "segments")
ML_STAGES = ("psychographic", "propensity")

# the raw tables each ML step reads (its SQL names them; tests/test_freshness.py checks it)
ML_INPUTS = {
    "psychographic": ("facebook__comments", "linkedin__comments"),
    "propensity": ("web_events__events", "hubspot__contacts", "hubspot__deals"),
}

_SKIP_DIRS = {"target", "logs", "dbt_packages", "__pycache__", ".pytest_cache"}


@dataclass
class StageState:
    """A step's fingerprint now, and whether it matches the last time the step succeeded."""

    stage: str
    fingerprint: str
    inputs: dict[str, Any]
    changed: bool
    previous: dict[str, Any] | None = field(default=None)  # the last success: id, time, summary

    def xcom(self) -> dict[str, Any]:
        """What the DAG passes from the check to the gate (counts and hashes only, no data)."""
        return {"stage": self.stage, "fingerprint": self.fingerprint, "inputs": self.inputs}

    def reason(self) -> str:
        if self.previous is None:
            return f"{self.stage}: no earlier successful run recorded"
        if self.changed:
            return f"{self.stage}: {', '.join(what_changed(self.previous.get('inputs') or {}, self.inputs))}"
        return (
            f"{self.stage}: inputs unchanged since its run {self.previous['stage_run_id']} "
            f"at {self.previous['finished_at']}"
        )


def ensure_table(conn: psycopg.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('audience.stage_runs'))")
        cur.execute(STAGE_RUNS_DDL)
    conn.commit()


def as_of_key() -> str:
    """The models' "today" (``pipeline.as_of_date``: ``AUDIENCE_AS_OF_DATE``, checked), else today UTC."""
    from audience.pipeline import as_of_date  # noqa: PLC0415

    return (as_of_date() or datetime.now(UTC).date()).isoformat()


def files_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over every file under ``paths`` (relative name and content), build output left out."""
    digest = hashlib.sha256()
    for root in paths:
        if not root.exists():
            digest.update(f"missing:{root.name}".encode())
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if _is_source(root, p))
        for path in files:
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _is_source(root: Path, path: Path) -> bool:
    """A file that defines behaviour: not build output, caches, logs or dotfiles (dbt's .user.yml)."""
    parts = path.relative_to(root).parts
    return (
        path.is_file()
        and not (_SKIP_DIRS & set(parts))
        and not any(part.startswith(".") for part in parts)
        and path.suffix not in {".pyc", ".log"}
    )


def _code_paths(stage: str) -> list[Path]:
    from audience.settings import project_root  # noqa: PLC0415

    root = project_root()
    package = Path(__file__).resolve().parent
    if stage in ML_STAGES:
        return [package / "ml"]
    return [
        root / "dbt_project",
        root / "audiences",
        root / "expectations",
        package / "quality",
        package / "audiences",
    ]


def raw_inputs(conn: psycopg.Connection, tables: Iterable[str] | None = None) -> dict[str, Any]:
    """Per raw table, what the ingest ledger says of the batches that wrote to it: how many loaded
    or rejected rows, their rows and rejects, the newest. (Not the table's size on disk: autovacuum
    truncates the pages a rolled-back attempt left, which would look like a change.)"""
    wanted = sorted(set(tables)) if tables is not None else None
    ledger = conn.execute(
        """
        select source || '__' || entity, count(*), sum(rows_loaded)::bigint, sum(rows_rejected)::bigint,
               max(loaded_at)
        from ops.ingest_batches
        where (rows_loaded > 0 or rows_rejected > 0)
          and (%(wanted)s::text[] is null or source || '__' || entity = any(%(wanted)s::text[]))
        group by 1
        """,
        {"wanted": wanted},
    ).fetchall()
    out: dict[str, Any] = {
        name: {
            "batches": int(batches),
            "rows": int(rows or 0),
            "rejected": int(rejected or 0),
            "newest": newest.isoformat() if newest else None,
        }
        for name, batches, rows, rejected, newest in ledger
    }
    for name in wanted or ():
        out.setdefault(name, {"batches": 0})
    return dict(sorted(out.items()))


def _last_success(conn: psycopg.Connection, stage: str) -> dict[str, Any] | None:
    row = conn.execute(
        """
        select stage_run_id, fingerprint, inputs, summary, finished_at from ops.stage_runs
        where stage = %s order by stage_run_id desc limit 1
        """,
        (stage,),
    ).fetchone()
    if row is None:
        return None
    return {
        "stage_run_id": row[0],
        "fingerprint": row[1],
        "inputs": row[2],
        "summary": row[3],
        "finished_at": row[4].isoformat(timespec="seconds"),
    }


def inputs_of(conn: psycopg.Connection, stage: str) -> dict[str, Any]:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")
    inputs: dict[str, Any] = {"code": files_hash(_code_paths(stage))}
    if stage == "psychographic":
        inputs["raw"] = raw_inputs(conn, ML_INPUTS[stage])
    elif stage == "propensity":
        inputs["raw"] = raw_inputs(conn, ML_INPUTS[stage])
        inputs["as_of"] = as_of_key()
    else:
        inputs["raw"] = raw_inputs(conn)
        inputs["as_of"] = as_of_key()
        inputs["ml"] = {
            ml: (prev or {}).get("stage_run_id") for ml in ML_STAGES for prev in [_last_success(conn, ml)]
        }
    return inputs


def state(conn: psycopg.Connection, stage: str) -> StageState:
    """The step's fingerprint now, against its last recorded success."""
    ensure_table(conn)
    inputs = inputs_of(conn, stage)
    fingerprint = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    previous = _last_success(conn, stage)
    conn.commit()
    changed = previous is None or previous["fingerprint"] != fingerprint
    return StageState(stage, fingerprint, inputs, changed, previous)


def record(conn: psycopg.Connection, stage: StageState | dict[str, Any], summary: dict[str, Any]) -> int:
    """Record a success of the step with the fingerprint it was checked with (before it ran)."""
    data = stage.xcom() if isinstance(stage, StageState) else stage
    ensure_table(conn)
    run_id = conn.execute(
        """
        insert into ops.stage_runs (stage, fingerprint, inputs, summary)
        values (%s, %s, %s, %s) returning stage_run_id
        """,
        (data["stage"], data["fingerprint"], json.dumps(data["inputs"]), json.dumps(summary, default=str)),
    ).fetchone()[0]
    conn.commit()
    return int(run_id)


def what_changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Which inputs differ, named (``raw.web_events__events``, ``code``, ``as_of``, ``ml.propensity``)."""
    changed: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changed += [
                f"{key}.{name}" for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)
            ]
        else:
            changed.append(key)
    return changed or ["fingerprint"]
