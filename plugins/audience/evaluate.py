"""``audience evaluate``: how well the segments recover the synthetic world's planted truth.

Runs on the warehouse the pipeline last built (``make demo``) against the world it was built from
(``AUDIENCE_WORLD_DIR``, default ``.local/world``), whose truth files the pipeline never reads:

- identity resolution: share of the world's persons merged exactly right (target ≥ 0.99);
- psychographic clusters: adjusted Rand index against the planted interest clusters (target ≥ 0.8);
- purchase propensity: the model's AUC on its held-out period (target ≥ 0.8).

Prints one line per figure, writes ``.local/evaluation.json`` and exits 1 when a target is missed.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# evaluation modules (audience.evaluation.<name>), each exposing evaluate(conn, world_dir) -> dict
PARTS = ("identity", "psychographic", "propensity")


def run_all(world: Path, parts: tuple[str, ...] = PARTS) -> list[dict[str, Any]]:
    from audience.warehouse import connect  # noqa: PLC0415

    if not (world / "truth.jsonl").exists():
        raise FileNotFoundError(f"no planted truth in {world}: generate the world (`make demo`) first")
    results = []
    with connect() as conn:
        if conn.execute("select to_regclass('marts.persons')").fetchone()[0] is None:
            raise RuntimeError("the warehouse has no segments yet: run `make demo` first")
        for name in parts:
            module = importlib.import_module(f"audience.evaluation.{name}")
            started = time.monotonic()
            result = dict(module.evaluate(conn, world))
            result.setdefault("part", name)
            result["seconds"] = round(time.monotonic() - started, 2)
            results.append(result)
    return results


def render(results: list[dict[str, Any]]) -> str:
    lines = ["", "=== audience evaluate: segments against the planted truth ==="]
    for r in results:
        verdict = "PASS" if r.get("passed") else "MISS"
        lines.append(f"  {r['metric']:<28} {r['value']:>8.4f}   target ≥ {r['target']:<5}  {verdict}")
        extras = {
            k: v
            for k, v in r.items()
            if k not in {"metric", "value", "target", "passed", "part", "seconds"}
            and not isinstance(v, (dict, list))
        }
        if extras:
            lines.append("      " + ", ".join(f"{k} {v}" for k, v in extras.items()))
    return "\n".join(lines)


def main(world: Path | None = None) -> int:
    from audience import runtime  # noqa: PLC0415
    from audience.settings import local_dir  # noqa: PLC0415

    world = world or runtime.world_dir()
    try:
        results = run_all(world)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"audience evaluate: {exc}", file=sys.stderr)
        return 2
    print(render(results))
    (local_dir() / "evaluation.json").write_text(json.dumps(results, indent=2, default=str))
    missed = [r["metric"] for r in results if not r.get("passed")]
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0
