"""How well identity resolution put each world person's source records into exactly one person.

The synthetic world plants the truth: ``truth.jsonl`` (one line per person, ``contact_id`` = its
HubSpot contact id) and ``truth_crm.jsonl`` (every Salesforce Contact/Lead and file-drop customer
id -> the ``contact_id`` it belongs to). Both are read line by line and COPYed into a temporary
table; the comparison with ``marts.person_source_ids`` runs in the warehouse.

A truth person is *correctly merged* when exactly one ``person_id`` holds all its records and that
person holds no record of another truth person. ``identity_merge_rate`` is the share of truth
persons correctly merged. Pairwise precision and recall count pairs of truth records: a pair is
predicted when both records have the same ``person_id``, and true when they belong to the same
truth person (records missing from the warehouse count as predicted with nobody).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

METRIC = "identity_merge_rate"
TARGET = 0.99
TRUTH_FILE = "truth.jsonl"
TRUTH_CRM_FILE = "truth_crm.jsonl"
TRUTH_TABLE = "evaluation_identity_truth"
# truth_crm.jsonl (source, object) -> the source name in person_source_ids; other objects are not persons
CRM_SOURCES = {
    ("salesforce", "Contact"): "salesforce_contact",
    ("salesforce", "Lead"): "salesforce_lead",
    ("files", "contact"): "files",
}

COMPARISON_SQL = """
with

truth as (

    select truth.source, truth.source_id, truth.contact_id, ids.person_id
    from {truth} as truth
    left join {schema}.person_source_ids as ids
        on ids.source = truth.source and ids.source_id = truth.source_id

),

per_contact as (

    select
        contact_id,
        count(*) as record_count,
        count(*) filter (where person_id is null) as missing_count,
        count(distinct person_id) as person_count,
        min(person_id) as person_id
    from truth
    group by contact_id

),

per_person as (

    select person_id, count(distinct contact_id) as contact_count
    from truth
    where person_id is not null
    group by person_id

),

pairs as (

    select
        (select coalesce(sum(n * (n - 1) / 2), 0)
            from (select count(*) as n from truth group by contact_id) as t) as true_pairs,
        (select coalesce(sum(n * (n - 1) / 2), 0)
            from (select count(*) as n from truth where person_id is not null group by person_id) as p)
            as predicted_pairs,
        (select coalesce(sum(n * (n - 1) / 2), 0)
            from (
                select count(*) as n from truth where person_id is not null group by contact_id, person_id
            ) as tp) as true_positive_pairs

)

select
    (select count(*) from per_contact) as truth_persons,
    (select count(*) from truth) as truth_records,
    (select count(*) from truth where person_id is null) as missing_records,
    (select count(*) from per_contact
        left join per_person using (person_id)
        where per_contact.missing_count = 0
            and per_contact.person_count = 1
            and per_person.contact_count = 1) as correct_persons,
    (select count(*) from per_contact where person_count > 1 or (missing_count > 0 and person_count > 0))
        as split_persons,
    (select count(distinct truth.contact_id) from truth
        inner join per_person using (person_id)
        where per_person.contact_count > 1) as overmerged_persons,
    (select count(*) from per_person where contact_count > 1) as persons_holding_several_truth_persons,
    pairs.true_pairs,
    pairs.predicted_pairs,
    pairs.true_positive_pairs
from pairs
"""


def truth_records(world_dir: Path) -> Iterator[tuple[str, str, str]]:
    """(source, source_id, contact_id) of every person record the world planted, read line by line."""
    world_dir = Path(world_dir)
    with open(world_dir / TRUTH_FILE, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                contact_id = str(json.loads(line)["contact_id"])
                yield "hubspot", contact_id, contact_id
    crm = world_dir / TRUTH_CRM_FILE
    if crm.exists():
        with open(crm, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                source = CRM_SOURCES.get((row["source"], row["object"]))
                if source is not None:
                    yield source, str(row["id"]), str(row["contact_id"])


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


def evaluate(conn: psycopg.Connection, world_dir: Path, *, schema: str = "marts") -> dict[str, Any]:
    """Compare ``<schema>.person_source_ids`` with the world's planted truth; counts and rates, no PII."""
    world_dir = Path(world_dir)
    if not (world_dir / TRUTH_FILE).exists():
        raise FileNotFoundError(
            f"{world_dir / TRUTH_FILE} not found: pass the directory of the synthetic world the "
            "warehouse was loaded from (AUDIENCE_WORLD_DIR)"
        )
    started = time.monotonic()
    truth = sql.Identifier(TRUTH_TABLE)
    with conn.cursor() as cur:
        cur.execute(sql.SQL("drop table if exists {}").format(truth))
        cur.execute(
            sql.SQL("create temporary table {} (source text, source_id text, contact_id text)").format(truth)
        )
        with cur.copy(sql.SQL("copy {} (source, source_id, contact_id) from stdin").format(truth)) as copy:
            for record in truth_records(world_dir):
                copy.write_row(record)
        cur.execute(sql.SQL("analyze {}").format(truth))
        cur.execute(sql.SQL(COMPARISON_SQL).format(truth=truth, schema=sql.Identifier(schema)))
        names = [d.name for d in cur.description]
        counts = {name: int(value) for name, value in zip(names, cur.fetchone(), strict=True)}
        cur.execute(sql.SQL("drop table {}").format(truth))
    conn.commit()

    value = _ratio(counts["correct_persons"], counts["truth_persons"])
    result: dict[str, Any] = {
        "metric": METRIC,
        "value": round(value, 6),
        "target": TARGET,
        "passed": value >= TARGET,
        "pairwise_precision": round(_ratio(counts["true_positive_pairs"], counts["predicted_pairs"]), 6),
        "pairwise_recall": round(_ratio(counts["true_positive_pairs"], counts["true_pairs"]), 6),
        **counts,
    }
    log.info(
        "identity evaluation: %d of %d world persons correctly merged (%.4f, target %.2f), "
        "pairwise precision %.4f recall %.4f, %d records missing, in %.1fs",
        counts["correct_persons"],
        counts["truth_persons"],
        value,
        TARGET,
        result["pairwise_precision"],
        result["pairwise_recall"],
        counts["missing_records"],
        time.monotonic() - started,
    )
    return result
