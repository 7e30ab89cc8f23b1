"""What a finished pipeline run leaves behind, checked the same way for every way of running it.

Shared by the in-process run (``test_pipeline.py``, ``dag.test()``) and the cluster run
(``test_celery.py``, scheduler + Celery worker): the marts are complete and sound, the gate passed
and wrote its report, and each synced audience on the sandbox platform is exactly the mart's
hashed members.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from audience import warehouse
from audience.identity import FACEBOOK_MEMBER_COLUMNS, FACEBOOK_SCHEMA

SCHEMA = list(FACEBOOK_SCHEMA)
COLUMNS = list(FACEBOOK_MEMBER_COLUMNS)


def sandbox_members(url: str, audience_name: str) -> set[tuple]:
    """The hashed members the sandbox's Facebook holds for one audience, as tuples in schema order."""
    audiences = httpx.get(f"{url}/_sandbox/facebook/audiences", timeout=30).json()
    items = audiences.get("audiences", audiences) if isinstance(audiences, dict) else audiences
    match = [a for a in items if a["name"] == audience_name]
    assert len(match) == 1, f"expected one audience named {audience_name}, got {items}"
    body = httpx.get(f"{url}/_sandbox/facebook/audiences/{match[0]['id']}/members", timeout=60).json()
    if isinstance(body, dict) and "schema" in body:
        # a key left out of every batch (empty for all members) reads as ""
        idx = [body["schema"].index(k) if k in body["schema"] else None for k in SCHEMA]
        return {tuple("" if i is None else row[i] for i in idx) for row in body["data"]}
    rows = body.get("members", body) if isinstance(body, dict) else body
    return {tuple(m.get(k, "") for k in SCHEMA) for m in rows}


def mart_members(conn, audience_key: str) -> set[tuple]:
    return {
        tuple(r)
        for r in conn.execute(
            f"select {', '.join(COLUMNS)} from marts.audience_members where audience_key = %s",
            (audience_key,),
        ).fetchall()
    }


def check_end_state(sandbox_url: str, world: Path) -> set[tuple]:
    """Assert the end state of one full pipeline run; returns the mart's ``consenting_adults`` members."""
    with warehouse.connect() as conn:
        mart = mart_members(conn, "consenting_adults")
        raw_n = conn.execute("select count(*) from raw.hubspot__contacts").fetchone()[0]
        persons, records = conn.execute(
            "select (select count(*) from marts.persons), (select count(*) from marts.person_source_ids)"
        ).fetchone()
        located, clustered, scored, personas = conn.execute(
            """
            select (select count(*) from marts.person_demographics where nuts3_code is not null),
                   (select count(*) from marts.person_psychographics where interest_cluster_id is not null),
                   (select count(*) from marts.person_propensity),
                   (select count(*) from marts.personas)
            """
        ).fetchone()
        syncable = {r[0] for r in conn.execute("select audience_key from marts.audiences where is_syncable")}
        verdict_run_id = conn.execute(
            "select run_id from ops.validation_runs order by run_at desc limit 1"
        ).fetchone()[0]
        verdicts = conn.execute(
            "select bool_and(success or severity <> 'critical'), count(*) from ops.validation_runs"
        ).fetchone()
        bad = conn.execute(
            """
            select count(*) from marts.audience_members m join marts.persons p using (person_id)
            where not p.has_marketing_consent or p.is_erasure_requested or p.age < 18
            """
        ).fetchone()[0]
    with open(world / "hubspot_contacts.jsonl") as lines:
        assert raw_n == sum(1 for _ in lines)
    # every layer produced something: CRM records merged into persons, geography from open data,
    # interest clusters from comments, propensity scores, personas
    assert records > persons > 0
    assert located > 0 and clustered > 0 and scored > 0 and personas > 0
    assert "consenting_adults" in syncable
    # the run report of this very run was written after the gate
    from audience.quality.report import report_path_for  # noqa: PLC0415

    report = report_path_for(verdict_run_id)
    assert report.exists() and "PASS" in report.read_text()
    assert verdicts[0] is True and verdicts[1] > 0
    assert bad == 0
    assert len(mart) > 100
    held = sandbox_members(sandbox_url, "consenting_adults")
    assert held == mart  # exactly the audience's hashed members, nothing more, nothing less
    with warehouse.connect() as conn:
        for key in sorted(syncable - {"consenting_adults"}):
            assert sandbox_members(sandbox_url, key) == mart_members(conn, key), key
    return mart
