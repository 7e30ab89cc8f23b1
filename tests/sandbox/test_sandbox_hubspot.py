"""HubSpot contact search over real HTTP, through hubspot-api-client where the shape matters."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts.exceptions import ApiException

from sandbox.server import SandboxHandle, start_background

TOKEN = {"Authorization": "Bearer test-token"}


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def world_contacts(world_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (world_dir / "hubspot_contacts.jsonl").read_text().splitlines()]


def _search(sb: SandboxHandle, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = httpx.post(f"{sb.url}/crm/v3/objects/contacts/search", json=body, headers=TOKEN, timeout=30)
    assert resp.status_code == status, resp.text
    return resp.json()


def _since(ms: int, op: str = "GTE") -> list[dict]:
    return [{"filters": [{"propertyName": "lastmodifieddate", "operator": op, "value": str(ms)}]}]


def test_the_official_client_reads_a_page(clean_sandbox: SandboxHandle, world_contacts: list[dict]) -> None:
    client = HubSpot(access_token="test-token", host=clean_sandbox.url)
    page = client.crm.contacts.search_api.do_search(
        public_object_search_request={
            "limit": 5,
            "properties": ["email", "zip"],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        }
    )
    assert page.total == len(world_contacts)
    assert len(page.results) == 5 and page.paging.next.after == "5"
    first = page.results[0]
    assert set(first.properties) == {"email", "zip", "createdate", "lastmodifieddate", "hs_object_id"}
    assert first.updated_at is not None and first.archived is False
    oldest = min(world_contacts, key=lambda c: (_ms(c["updatedAt"]), int(c["id"])))
    assert first.id == oldest["id"]


def test_errors_reach_the_official_client_as_api_exceptions(clean_sandbox: SandboxHandle) -> None:
    api = HubSpot(access_token="test-token", host=clean_sandbox.url).crm.contacts.search_api
    with pytest.raises(ApiException) as err:
        api.do_search(public_object_search_request={"limit": 201})
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_missing_token_is_401(clean_sandbox: SandboxHandle) -> None:
    resp = httpx.post(f"{clean_sandbox.url}/crm/v3/objects/contacts/search", json={})
    assert resp.status_code == 401
    assert resp.json()["category"] == "INVALID_AUTHENTICATION"


def test_defaults_limit_ten_and_default_properties(clean_sandbox: SandboxHandle) -> None:
    page = _search(clean_sandbox, {})
    assert len(page["results"]) == 10
    assert set(page["results"][0]["properties"]) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    ids = [int(r["id"]) for r in page["results"]]
    assert ids == sorted(ids)  # without sorts: by id


def test_cursor_paging_reads_everything_once_in_watermark_order(
    clean_sandbox: SandboxHandle, world_contacts: list[dict]
) -> None:
    seen: list[tuple[int, int]] = []
    after = None
    while True:
        body: dict[str, Any] = {
            "limit": 200,
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        }
        if after:
            body["after"] = after
        page = _search(clean_sandbox, body)
        seen += [(_ms(r["updatedAt"]), int(r["id"])) for r in page["results"]]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    assert len(seen) == len(world_contacts) == len(set(seen))
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    ("prop", "field", "direction"),
    [
        ("createdate", "createdAt", "DESCENDING"),
        ("hs_object_id", "id", "ASCENDING"),
        ("lastmodifieddate", "updatedAt", "DESCENDING"),
    ],
)
def test_every_page_is_the_next_slice_of_the_sort_order(
    clean_sandbox: SandboxHandle, world_contacts: list[dict], prop: str, field: str, direction: str
) -> None:
    """Deep pages, read as a slice of the index (no change made): the order of a local sort by
    (value, id), ties broken by id, descending reversing both."""

    def key(c: dict) -> tuple[int, int]:
        value = c[field]
        return (int(value) if field == "id" else _ms(value), int(c["id"]))

    expected = [c["id"] for c in sorted(world_contacts, key=key, reverse=direction == "DESCENDING")]
    got: list[str] = []
    after = None
    while True:
        body: dict[str, Any] = {"limit": 37, "sorts": [{"propertyName": prop, "direction": direction}]}
        if after:
            body["after"] = after
        page = _search(clean_sandbox, body)
        got += [r["id"] for r in page["results"]]
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            break
    assert got == expected


def test_the_ten_thousand_results_cap(clean_sandbox: SandboxHandle) -> None:
    assert _search(clean_sandbox, {"after": "9900", "limit": 100})["results"] == []
    err = _search(clean_sandbox, {"after": "9900", "limit": 200}, status=400)
    assert err["status"] == "error" and err["category"] == "VALIDATION_ERROR"
    assert "10,000" in err["message"]
    assert _search(clean_sandbox, {"limit": 201}, status=400)["category"] == "VALIDATION_ERROR"


def test_paging_past_the_cap_by_moving_the_watermark(
    clean_sandbox: SandboxHandle, world_contacts: list[dict]
) -> None:
    cap = 300
    r = httpx.post(f"{clean_sandbox.url}/_sandbox/config", json={"hubspot_max_results": cap})
    assert r.status_code == 200
    got: dict[str, str] = {}
    since, seen_at_since = 0, set()
    queries = 0
    while True:
        queries += 1
        after, last_ms, ids_at_last, new = None, since, set(seen_at_since), 0
        while True:
            body: dict[str, Any] = {
                "limit": 100,
                "filterGroups": _since(since),
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            }
            if after:
                body["after"] = after
            page = _search(clean_sandbox, body)
            for res in page["results"]:
                ms = _ms(res["updatedAt"])
                if ms == since and res["id"] in seen_at_since:
                    continue
                got[res["id"]] = res["updatedAt"]
                new += 1
                if ms > last_ms:
                    last_ms, ids_at_last = ms, {res["id"]}
                else:
                    ids_at_last.add(res["id"])
            after = (page.get("paging") or {}).get("next", {}).get("after")
            if not after or int(after) + 100 > cap:
                break
        if not after:
            break
        assert new > 0, "no progress"
        since, seen_at_since = last_ms, ids_at_last
    assert set(got) == {c["id"] for c in world_contacts}
    assert queries >= len(world_contacts) // cap


def test_filters_on_indexed_properties_match_a_local_scan(
    clean_sandbox: SandboxHandle, world_contacts: list[dict]
) -> None:
    stamps = sorted(_ms(c["updatedAt"]) for c in world_contacts)
    lo, hi = stamps[300], stamps[900]
    expected = sum(lo <= s <= hi for s in stamps)
    between = [
        {
            "filters": [
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "BETWEEN",
                    "value": str(lo),
                    "highValue": str(hi),
                }
            ]
        }
    ]
    assert _search(clean_sandbox, {"filterGroups": between, "limit": 1})["total"] == expected
    whole = lo - lo % 1000  # an ISO value to the second, with a time zone offset
    iso = datetime.fromtimestamp(whole // 1000, tz=timezone(timedelta(hours=2))).isoformat()
    assert _search(clean_sandbox, {"filterGroups": _since(lo, "LT")})["total"] == sum(s < lo for s in stamps)
    by_iso = [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": iso}]}]
    assert _search(clean_sandbox, {"filterGroups": by_iso})["total"] == sum(s >= whole for s in stamps)
    ids = sorted(int(c["id"]) for c in world_contacts)
    gt = [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": str(ids[99])}]}]
    page = _search(clean_sandbox, {"filterGroups": gt, "sorts": ["hs_object_id"], "limit": 3})
    assert page["total"] == len(ids) - 100
    assert [int(r["id"]) for r in page["results"]] == ids[100:103]
    # OR of groups
    either = [gt[0], _since(stamps[-10])[0]]
    assert _search(clean_sandbox, {"filterGroups": either})["total"] == len(
        {c["id"] for c in world_contacts if int(c["id"]) > ids[99] or _ms(c["updatedAt"]) >= stamps[-10]}
    )


def test_filters_on_other_properties_and_descending_sort(
    clean_sandbox: SandboxHandle, world_contacts: list[dict]
) -> None:
    target = next(c for c in world_contacts if c["properties"]["email"])
    email = target["properties"]["email"].strip().upper()
    page = _search(
        clean_sandbox,
        {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
            "properties": ["email"],
        },
    )
    assert [r["id"] for r in page["results"]] == [target["id"]]
    consenting = [{"filters": [{"propertyName": "marketing_consent", "operator": "EQ", "value": "true"}]}]
    assert _search(clean_sandbox, {"filterGroups": consenting})["total"] == sum(
        c["properties"]["marketing_consent"] == "true" for c in world_contacts
    )
    newest = _search(
        clean_sandbox,
        {"sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}], "limit": 1},
    )["results"][0]
    assert _ms(newest["updatedAt"]) == max(_ms(c["updatedAt"]) for c in world_contacts)
    bad = _search(
        clean_sandbox,
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]},
        status=400,
    )
    assert bad["category"] == "VALIDATION_ERROR"


def test_patch_moves_a_contact_past_the_watermark_and_survives_restart(
    world_dir: Path,
    world_contacts: list[dict],
    tmp_path: Path,
) -> None:
    newest = max(_ms(c["updatedAt"]) for c in world_contacts)
    target = world_contacts[0]
    with start_background(world_dir, tmp_path / "state") as sb:
        resp = httpx.patch(
            f"{sb.url}/crm/v3/objects/contacts/{target['id']}",
            headers=TOKEN,
            json={"properties": {"marketing_consent": "false"}},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["properties"]["marketing_consent"] == "false"
        bad = httpx.patch(
            f"{sb.url}/crm/v3/objects/contacts/{target['id']}",
            headers=TOKEN,
            json={"properties": {"no_such_property": "1"}},
        )
        assert bad.status_code == 400
        assert httpx.get(f"{sb.url}/crm/v3/objects/contacts/999", headers=TOKEN).status_code == 404
    with start_background(world_dir, tmp_path / "state") as sb:
        page = _search(sb, {"filterGroups": _since(newest, "GT"), "properties": ["marketing_consent"]})
        assert [r["id"] for r in page["results"]] == [target["id"]]
        assert page["results"][0]["properties"]["marketing_consent"] == "false"
        assert _search(sb, {"limit": 1})["total"] == len(world_contacts)  # changed, not duplicated
        one = httpx.get(
            f"{sb.url}/crm/v3/objects/contacts/{target['id']}?properties=marketing_consent", headers=TOKEN
        ).json()
        assert one["properties"]["marketing_consent"] == "false"


def test_a_change_between_two_pages_shows_on_the_next_page(
    world_dir: Path, world_contacts: list[dict], tmp_path: Path
) -> None:
    """The next page of a query is a slice of the matches the query found, until a change: a contact
    changed between page 1 and page 2 leaves its place and shows at the end, as HubSpot's index has it."""
    order = [c["id"] for c in sorted(world_contacts, key=lambda c: (_ms(c["updatedAt"]), int(c["id"])))]
    body: dict[str, Any] = {
        "filterGroups": _since(0),
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 10,
    }
    with start_background(world_dir, tmp_path / "state") as sb:
        assert [r["id"] for r in _search(sb, body)["results"]] == order[:10]
        assert [r["id"] for r in _search(sb, {**body, "after": "10"})["results"]] == order[10:20]
        moved = order[25]
        resp = httpx.patch(
            f"{sb.url}/crm/v3/objects/contacts/{moved}",
            headers=TOKEN,
            json={"properties": {"marketing_consent": "false"}},
        )
        assert resp.status_code == 200, resp.text
        rest = [i for i in order if i != moved]
        assert [r["id"] for r in _search(sb, {**body, "after": "20"})["results"]] == rest[20:30]
        last = _search(sb, {**body, "after": str(len(order) - 1)})
        assert [r["id"] for r in last["results"]] == [moved]
        assert last["total"] == len(order)


def test_search_rate_limit_when_configured(clean_sandbox: SandboxHandle) -> None:
    httpx.post(f"{clean_sandbox.url}/_sandbox/config", json={"hubspot_search_per_second": 2})
    statuses = [
        httpx.post(
            f"{clean_sandbox.url}/crm/v3/objects/contacts/search", json={"limit": 1}, headers=TOKEN
        ).status_code
        for _ in range(4)
    ]
    assert statuses[:2] == [200, 200] and 429 in statuses[2:]
    resp = httpx.post(f"{clean_sandbox.url}/crm/v3/objects/contacts/search", json={}, headers=TOKEN)
    if resp.status_code == 429:
        assert resp.headers["Retry-After"] == "1"
        assert resp.json()["errorType"] == "RATE_LIMIT"
