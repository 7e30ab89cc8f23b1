"""The HubSpot connector against the sandbox over real HTTP, through hubspot-api-client."""

from __future__ import annotations

import json

import httpx

from audience import ingest, warehouse
from audience.sources import hubspot


def _world_contacts(world):
    with open(world / "hubspot_contacts.jsonl") as fh:
        return [json.loads(line) for line in fh]


def test_full_load_then_rerun_loads_nothing(fresh_warehouse, sandbox, sandbox_world):
    expected = {c["id"] for c in _world_contacts(sandbox_world)}
    with warehouse.connect() as conn:
        first = hubspot.load_contacts(conn)
        assert first.rows_loaded == len(expected)
        assert first.rows_rejected == 0
        got = {r[0] for r in conn.execute("select _record_id from raw.hubspot__contacts")}
        assert got == expected
        # the original payload is kept whole
        one = conn.execute("select payload from raw.hubspot__contacts limit 1").fetchone()[0]
        assert {"id", "properties", "createdAt", "updatedAt"} <= set(one)
        second = hubspot.load_contacts(conn)
        assert second.rows_loaded == 0
        assert conn.execute("select count(*) from raw.hubspot__contacts").fetchone()[0] == len(expected)


def test_pages_past_the_search_cap_by_moving_the_watermark(
    fresh_warehouse, sandbox, sandbox_world, monkeypatch
):
    # shrink the cap so a 1,500-contact world needs several queries
    monkeypatch.setattr(hubspot, "SEARCH_CAP", 400)
    settings = hubspot.HubSpotSettings(sandbox.url, "sandbox-token", page_size=100, is_sandbox=True)
    with warehouse.connect() as conn:
        res = hubspot.load_contacts(conn, settings=settings)
        n, distinct = conn.execute(
            "select count(*), count(distinct _record_id) from raw.hubspot__contacts"
        ).fetchone()
    assert res.rows_loaded == n == distinct == len(_world_contacts(sandbox_world))


def test_full_refresh_reloads_everything(fresh_warehouse, sandbox, sandbox_world):
    with warehouse.connect() as conn:
        hubspot.load_contacts(conn)
        again = hubspot.load_contacts(conn, full_refresh=True)
    assert again.rows_loaded == len(_world_contacts(sandbox_world))


def test_injected_faults_still_load_exactly_the_right_rows(fresh_warehouse, sandbox, sandbox_world):
    r = httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"rate": 0.2, "kinds": ["429", "500", "503"], "seed": 3}
    )
    assert r.status_code == 200
    from audience.retry import RetryPolicy

    settings = hubspot.HubSpotSettings(sandbox.url, "sandbox-token", page_size=100, is_sandbox=True)
    with warehouse.connect() as conn:
        source_retry = RetryPolicy(attempts=10, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)
        monkey = hubspot.HubSpotContacts(settings, retry=source_retry)
        state: dict = {}
        res = ingest.load_batch(
            conn,
            "hubspot",
            "contacts",
            monkey.iter_records(None, state),
            watermark_from=None,
            next_watermark=lambda: state.get("watermark"),
        )
        ids = [r[0] for r in conn.execute("select _record_id from raw.hubspot__contacts")]
    assert res.rows_loaded == len(ids) == len(set(ids)) == len(_world_contacts(sandbox_world))
    assert monkey.requests > res.rows_loaded // 100  # some requests were retried


def test_no_credentials_or_pii_in_summary(fresh_warehouse, sandbox, sandbox_world):
    with warehouse.connect() as conn:
        summary = json.dumps(hubspot.load_contacts(conn).summary())
    contact = _world_contacts(sandbox_world)[0]["properties"]
    assert "sandbox-token" not in summary
    for key in ("email", "lastname", "phone"):
        if contact.get(key):
            assert contact[key].strip() not in summary
