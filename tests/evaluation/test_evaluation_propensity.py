"""The propensity evaluation reads the latest scored run and compares its scores with planted intent."""

from __future__ import annotations

import json
from datetime import date

from audience import ml, warehouse
from audience.evaluation import propensity as evaluation


def test_evaluate_reports_the_latest_runs_holdout_auc_and_the_truth_auc(fresh_warehouse, tmp_path):
    intents = {"1": 0.9, "2": 0.8, "3": 0.2, "4": 0.1, "5": 0.3, "6": 0.4, "7": 0.05, "8": 0.6}
    (tmp_path / "truth.jsonl").write_text(
        "".join(json.dumps({"contact_id": c, "purchase_intent": i}) + "\n" for c, i in intents.items())
    )
    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
        ml.ensure_tables(conn)
        empty = evaluation.evaluate(conn, tmp_path)
        for run_id, trained_at, auc in (("old", "2026-10-01", 0.9), ("new", "2026-11-01", 0.7)):
            conn.execute(
                "insert into ml.model_runs values (%s, 'm', %s, %s, %s, 10, 10, 4, '{}', '{}')",
                (run_id, trained_at, date(2026, 11, 1), auc),
            )
        # the new run's scores rank the two top-quartile contacts (1, 2) first: truth AUC 1.0
        for contact, intent in intents.items():
            conn.execute(
                "insert into ml.propensity_scores values ('new', %s, %s, now())", (contact, intent / 2)
            )
        result = evaluation.evaluate(conn, tmp_path)

    assert empty["passed"] is False and empty["runs"] == 0
    assert result["metric"] == "propensity_auc_holdout" and result["target"] == 0.8
    assert result["value"] == 0.7 and result["passed"] is False  # the run with scores, not the best one
    assert result["auc_vs_intent_top_quartile"] == 1.0
    assert result["truth_matched"] == 8 and result["scored"] == 8
