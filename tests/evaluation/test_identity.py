"""audience.evaluation.identity on a toy world: three persons, one split and one wrongly merged."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from audience.evaluation.identity import METRIC, evaluate, truth_records


def write_world(world: Path) -> None:
    truth = [{"contact_id": c, "persona": "x"} for c in ("1", "2", "3", "4")]
    crm = [
        {"source": "salesforce", "object": "Contact", "id": "003A", "contact_id": "1"},
        {"source": "files", "object": "contact", "id": "C1", "contact_id": "1"},
        {"source": "salesforce", "object": "Lead", "id": "00QB", "contact_id": "2"},
        {
            "source": "salesforce",
            "object": "Opportunity",
            "id": "006X",
            "contact_id": "2",
        },  # not a person record
        {"source": "files", "object": "contact", "id": "C3", "contact_id": "3"},
    ]
    (world / "truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in truth))
    (world / "truth_crm.jsonl").write_text("".join(json.dumps(r) + "\n" for r in crm))


# person 1: all three records in p1 (correct); person 2: its Lead in another person (split);
# persons 3 and 4: put together in p3 (both wrong)
SOURCE_IDS = [
    ("hubspot", "1", "p1"),
    ("salesforce_contact", "003A", "p1"),
    ("files", "C1", "p1"),
    ("hubspot", "2", "p2"),
    ("salesforce_lead", "00QB", "p2b"),
    ("hubspot", "3", "p3"),
    ("files", "C3", "p3"),
    ("hubspot", "4", "p3"),
]


def test_truth_records_maps_crm_objects_to_person_sources(tmp_path: Path) -> None:
    write_world(tmp_path)
    records = list(truth_records(tmp_path))
    assert ("salesforce_contact", "003A", "1") in records
    assert ("salesforce_lead", "00QB", "2") in records
    assert ("files", "C3", "3") in records
    assert not any(source_id == "006X" for _, source_id, _ in records)
    assert len(records) == 8


def test_evaluate_counts_correct_split_and_overmerged_persons(fresh_warehouse, tmp_path: Path) -> None:
    write_world(tmp_path)
    with psycopg.connect(**fresh_warehouse.libpq()) as conn:
        conn.execute("create schema marts")
        conn.execute("create table marts.person_source_ids (source text, source_id text, person_id text)")
        with conn.cursor() as cur:
            cur.executemany("insert into marts.person_source_ids values (%s, %s, %s)", SOURCE_IDS)
        conn.commit()

        result = evaluate(conn, tmp_path)

        assert result["metric"] == METRIC
        assert result["value"] == pytest.approx(0.25)  # only person 1 of 4
        assert result["passed"] is False
        assert result["target"] == 0.99
        assert result["truth_persons"] == 4
        assert result["correct_persons"] == 1
        assert result["split_persons"] == 1
        assert result["overmerged_persons"] == 2
        assert result["missing_records"] == 0
        # true pairs: person 1 has 3, person 2 has 1, person 3 has 1 -> 5; predicted: p1 3 + p3 3 -> 6;
        # both: p1's 3 and (hubspot 3, C3) -> 4
        assert result["pairwise_precision"] == pytest.approx(4 / 6, abs=1e-6)
        assert result["pairwise_recall"] == pytest.approx(4 / 5, abs=1e-6)
        # the temporary truth table is gone
        assert conn.execute("select to_regclass('evaluation_identity_truth')").fetchone()[0] is None


def test_evaluate_says_which_world_is_missing(fresh_warehouse, tmp_path: Path) -> None:
    with (
        psycopg.connect(**fresh_warehouse.libpq()) as conn,
        pytest.raises(FileNotFoundError, match="truth.jsonl"),
    ):
        evaluate(conn, tmp_path / "nowhere")
