"""HubSpot deals through hubspot-api-client against the sandbox (same search paging as contacts)."""

from __future__ import annotations

import json

import httpx

from audience import ingest, warehouse
from audience.retry import RetryPolicy
from audience.sources import hubspot


def _deals(world):
    with open(world / "hubspot_deals.jsonl") as fh:
        return [json.loads(line) for line in fh]


def _settings(url):
    return hubspot.HubSpotSettings(url, "sandbox-token", page_size=100, is_sandbox=True)


def test_full_then_incremental_then_rerun(fresh_warehouse, sandbox, sandbox_world, monkeypatch):
    deals = _deals(sandbox_world)
    monkeypatch.setattr(hubspot, "SEARCH_CAP", 200)  # several queries: the watermark moves between them
    with warehouse.connect() as conn:
        first = hubspot.load_deals(conn, settings=_settings(sandbox.url))
        ids = [r[0] for r in conn.execute("select _record_id from raw.hubspot__deals")]
        assert first.rows_loaded == len(ids) == len(set(ids)) == len(deals)
        one = conn.execute("select payload from raw.hubspot__deals limit 1").fetchone()[0]
        assert one["properties"]["contact_id"] and "hs_lastmodifieddate" in one["properties"]
        assert hubspot.load_deals(conn, settings=_settings(sandbox.url)).rows_loaded == 0
        # incremental from a date: exactly the deals modified since
        since = "2026-06-01"
        cut = hubspot._ms("2026-06-01T00:00:00+00:00")
        res = hubspot.load_deals(conn, since=since, settings=_settings(sandbox.url))
    assert res.rows_loaded == sum(1 for d in deals if hubspot._ms(d["updatedAt"]) >= cut) > 0


def test_injected_faults_still_load_exactly_the_right_rows(fresh_warehouse, sandbox, sandbox_world):
    r = httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"rate": 0.2, "kinds": ["429", "500", "503"], "seed": 1}
    )
    assert r.status_code == 200
    source = hubspot.HubSpotSearch(
        _settings(sandbox.url),
        hubspot.DEALS,
        retry=RetryPolicy(attempts=10, base_delay=0.01, max_delay=0.05, max_retry_after=0.05),
    )
    state: dict = {}
    with warehouse.connect() as conn:
        res = ingest.load_batch(
            conn,
            "hubspot",
            "deals",
            source.iter_records(None, state),
            watermark_from=None,
            next_watermark=lambda: state.get("watermark"),
        )
        ids = [r[0] for r in conn.execute("select _record_id from raw.hubspot__deals")]
    assert res.rows_loaded == len(ids) == len(set(ids)) == len(_deals(sandbox_world))
    assert source.requests > -(-len(ids) // 100)


def test_malformed_deals_land_in_rejects(fresh_warehouse):
    source = hubspot.HubSpotSearch.__new__(hubspot.HubSpotSearch)
    source.spec = hubspot.DEALS
    items = [
        source._record({"id": "12", "properties": {}, "updatedAt": "2026-01-01T00:00:00Z"}),
        source._record({"id": "x", "properties": {}}),
        source._record({"id": "13", "properties": {"hs_lastmodifieddate": "31/02/2026"}}),
        source._record(["not", "an", "object"]),
    ]
    with warehouse.connect() as conn:
        res = ingest.load_batch(
            conn, "hubspot", "deals", items, watermark_from=None, next_watermark=lambda: None
        )
        reasons = sorted(r[0].split(":")[0] for r in conn.execute("select reason from raw.rejects"))
    assert res.rows_loaded == 1
    assert reasons == ["bad_timestamp", "missing_id", "not_an_object"]
