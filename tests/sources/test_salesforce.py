"""The Salesforce connector against the sandbox over real HTTP, through simple-salesforce."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from audience import ingest, warehouse
from audience.retry import RetryPolicy
from audience.sources import salesforce
from sandbox.server import start_background

FILES = {
    "contacts": "salesforce_contacts.jsonl",
    "leads": "salesforce_leads.jsonl",
    "opportunities": "salesforce_opportunities.jsonl",
}


def _world_ids(world: Path, entity: str) -> set[str]:
    with open(world / FILES[entity]) as fh:
        return {json.loads(line)["Id"] for line in fh}


def _settings(url: str, batch: int = 200) -> salesforce.SalesforceSettings:
    return salesforce.SalesforceSettings(url, "sandbox-session", batch_size=batch, is_sandbox=True)


@pytest.mark.parametrize("entity", ["contacts", "leads", "opportunities"])
def test_full_load_then_rerun_loads_nothing(fresh_warehouse, sandbox, sandbox_world, entity):
    expected = _world_ids(sandbox_world, entity)
    loader = getattr(salesforce, f"load_{entity}")
    with warehouse.connect() as conn:
        first = loader(conn, settings=_settings(sandbox.url))
        got = [r[0] for r in conn.execute(f"select _record_id from raw.salesforce__{entity}")]
        assert first.rows_loaded == len(got) == len(set(got)) == len(expected)
        assert set(got) == expected
        assert first.rows_rejected == 0
        payload = conn.execute(f"select payload from raw.salesforce__{entity} limit 1").fetchone()[0]
        assert payload["attributes"]["type"] in ("Contact", "Lead", "Opportunity")
        assert "SystemModstamp" in payload
        again = loader(conn, settings=_settings(sandbox.url))
        assert again.rows_loaded == 0
        assert conn.execute(f"select count(*) from raw.salesforce__{entity}").fetchone()[0] == len(expected)


def test_incremental_load_takes_only_later_changes_and_ties(fresh_warehouse, sandbox, sandbox_world):
    rows = [json.loads(line) for line in open(sandbox_world / FILES["contacts"])]
    stamps = sorted(salesforce._ms(r["SystemModstamp"]) for r in rows)
    cut = stamps[len(stamps) // 2]
    # a watermark in the middle: every record stamped at the cut except those "already seen" comes again
    at_cut = sorted(r["Id"] for r in rows if salesforce._ms(r["SystemModstamp"]) == cut)
    seen, unseen = at_cut[:1], at_cut[1:]
    expected = {r["Id"] for r in rows if salesforce._ms(r["SystemModstamp"]) > cut} | set(unseen)
    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
        ingest._set_watermark(conn, "salesforce", "contacts", {"ms": cut, "ids": seen})
        conn.commit()
        res = salesforce.load_contacts(conn, settings=_settings(sandbox.url))
        got = {r[0] for r in conn.execute("select _record_id from raw.salesforce__contacts")}
        wm = ingest.get_watermark(conn, "salesforce", "contacts")
    assert got == expected and res.rows_loaded == len(expected)
    assert wm["ms"] == stamps[-1]


def test_injected_faults_still_load_exactly_the_right_rows(fresh_warehouse, sandbox, sandbox_world):
    r = httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        # seed 1: the very first draw fails, so even this two-page load meets a fault
        json={"rate": 0.2, "kinds": ["429", "500", "503"], "seed": 1, "targets": ["salesforce"]},
    )
    assert r.status_code == 200
    source = salesforce.SalesforceQuery(
        _settings(sandbox.url),
        "contacts",
        retry=RetryPolicy(attempts=10, base_delay=0.01, max_delay=0.05, max_retry_after=0.05),
    )
    state: dict = {}
    with warehouse.connect() as conn:
        res = ingest.load_batch(
            conn,
            "salesforce",
            "contacts",
            source.iter_records(None, state),
            watermark_from=None,
            next_watermark=lambda: state.get("watermark"),
        )
        ids = [r[0] for r in conn.execute("select _record_id from raw.salesforce__contacts")]
    expected = _world_ids(sandbox_world, "contacts")
    assert res.rows_loaded == len(ids) == len(set(ids)) == len(expected)
    pages = -(-len(expected) // 200)
    assert source.requests > pages  # some calls failed and were retried
    faults = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["by_endpoint"]
    assert any("429" in v or "500" in v or "503" in v for k, v in faults.items() if "/services/data" in k)


def test_source_down_fails_clearly_and_leaves_the_warehouse_as_it_was(fresh_warehouse, sandbox):
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"rate": 1.0, "kinds": ["503"], "targets": ["salesforce"]}
    )
    source = salesforce.SalesforceQuery(
        _settings(sandbox.url), "leads", retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
    )
    with warehouse.connect() as conn:
        with pytest.raises(Exception, match="Salesforce Lead query: still failing after 3 attempts"):
            ingest.load_batch(
                conn,
                "salesforce",
                "leads",
                source.iter_records(None, {}),
                watermark_from=None,
                next_watermark=lambda: None,
            )
        assert conn.execute("select count(*) from raw.salesforce__leads").fetchone()[0] == 0
        assert conn.execute("select count(*) from ops.ingest_batches").fetchone()[0] == 0


def test_malformed_records_land_in_rejects(fresh_warehouse, sandbox_world, tmp_path, monkeypatch):
    path = sandbox_world / FILES["leads"]
    good = len(_world_ids(sandbox_world, "leads"))
    with open(path, "a") as fh:
        fh.write('{"Id": "not-an-id", "SystemModstamp": "2026-01-01T00:00:00.000+0000"}\n')
        fh.write('{"Id": "00Q5g0000000BadAAA", "SystemModstamp": "2026-02-31T00:00:00.000+0000"}\n')
        fh.write("{broken json\n")
    handle = start_background(sandbox_world, tmp_path / "state")
    try:
        with warehouse.connect() as conn:
            res = salesforce.load_leads(conn, settings=_settings(handle.url))
            reasons = [
                r[0] for r in conn.execute("select reason from raw.rejects where source = 'salesforce'")
            ]
    finally:
        handle.stop()
    assert res.rows_loaded == good
    assert res.rows_rejected == 3
    assert sorted(r.split(":")[0] for r in reasons) == ["bad_timestamp", "missing_id", "missing_id"]


def test_sandbox_refuses_what_salesforce_refuses(sandbox):
    base = f"{sandbox.url}/services/data/v60.0/query"
    q = "SELECT Id FROM Contact ORDER BY SystemModstamp, Id"
    r = httpx.get(base, params={"q": q})
    assert r.status_code == 401 and r.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    auth = {"Authorization": "Bearer x"}
    r = httpx.get(base, params={"q": "SELECT Id FROM Contact WHERE Email = 'x'"}, headers=auth)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
    r = httpx.get(base, params={"q": "SELECT Nope FROM Contact ORDER BY SystemModstamp, Id"}, headers=auth)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_FIELD"
    r = httpx.get(base, params={"q": "SELECT Id FROM Account ORDER BY SystemModstamp, Id"}, headers=auth)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_TYPE"
    r = httpx.get(f"{base}/01gAAAAAAAAAAAAAAA-2000", headers=auth)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_no_credentials_or_pii_in_summary(fresh_warehouse, sandbox, sandbox_world):
    with warehouse.connect() as conn:
        summary = json.dumps(salesforce.load_contacts(conn, settings=_settings(sandbox.url)).summary())
    first = json.loads(open(sandbox_world / FILES["contacts"]).readline())
    assert "sandbox-session" not in summary
    for key in ("Email", "LastName", "Phone"):
        if first.get(key):
            assert first[key] not in summary
