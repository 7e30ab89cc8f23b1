"""How good is the purchase-propensity model? Measured from the warehouse after the pipeline ran.

Metric ``propensity_auc_holdout`` (target 0.8): the ROC AUC the latest model run recorded on its
held-out later period (trained at as_of - 60 d, tested on purchases in (as_of - 30 d, as_of]).
Second figure, against the synthetic world's planted truth: the AUC of the latest scores at
separating the top quartile of ``purchase_intent`` (``truth.jsonl``) from the rest.

Only counts and AUCs are returned (no contact ids).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg

METRIC = "propensity_auc_holdout"
TARGET = 0.8
TRUTH_FILE = "truth.jsonl"


def _truth(world_dir: Path) -> Iterator[tuple[str, float]]:
    """(contact_id, purchase_intent) per line of the truth file, streamed."""
    with open(world_dir / TRUTH_FILE, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                yield str(record["contact_id"]), float(record["purchase_intent"])


def evaluate(conn: psycopg.Connection, world_dir: Path) -> dict:
    """The latest run's held-out AUC, and its scores' AUC against the planted intent top quartile."""
    import numpy as np  # noqa: PLC0415
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    latest = conn.execute(
        """
        select run_id, as_of, auc_holdout, n_train, n_test, positives
        from ml.model_runs
        where run_id in (select run_id from ml.propensity_scores)
        order by trained_at desc, run_id desc
        limit 1
        """
    ).fetchone()
    if latest is None:
        return {"metric": METRIC, "value": float("nan"), "target": TARGET, "passed": False, "runs": 0,
                "reason": "no propensity run has scores: run audience.ml.propensity.run first"}  # fmt: skip
    run_id, as_of, auc_holdout, n_train, n_test, positives = latest

    scores = dict(
        conn.execute(
            "select contact_id, purchase_propensity from ml.propensity_scores where run_id = %s", (run_id,)
        ).fetchall()
    )
    intents: list[float] = []
    predicted: list[float] = []
    for contact_id, intent in _truth(Path(world_dir)):
        score = scores.get(contact_id)
        if score is not None:
            intents.append(intent)
            predicted.append(score)
    truth_auc = float("nan")
    if intents:
        intent_arr = np.array(intents)
        top_quartile = (intent_arr >= np.quantile(intent_arr, 0.75)).astype(int)
        if 0 < top_quartile.sum() < len(top_quartile):
            truth_auc = float(roc_auc_score(top_quartile, np.array(predicted)))
    value = float(auc_holdout) if auc_holdout is not None else float("nan")
    return {
        "metric": METRIC,
        "value": round(value, 4),
        "target": TARGET,
        "passed": bool(value >= TARGET),
        "run_as_of": as_of.isoformat(),
        "n_train": n_train,
        "n_test": n_test,
        "positives": positives,
        "scored": len(scores),
        "truth_matched": len(intents),
        "auc_vs_intent_top_quartile": round(truth_auc, 4),
    }
