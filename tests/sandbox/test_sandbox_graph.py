"""The Graph API's custom audiences over real HTTP, through the real facebook-business SDK."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.customaudience import CustomAudience
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from sandbox.server import SandboxHandle, start_background

SCHEMA = ["EXTERN_ID", "EMAIL", "PHONE", "FN", "LN", "CT", "ZIP", "COUNTRY", "DOBY", "GEN"]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def rows(n: int, start: int = 0) -> list[list[str]]:
    return [
        [
            f"p{i}",
            sha(f"user{i}@mail.example"),
            sha(f"3361234{i:04d}"),
            sha("marie"),
            sha("dupont"),
            sha("paris"),
            sha("75011"),
            sha("fr"),
            sha("1987"),
            sha("f"),
        ]
        for i in range(start, start + n)
    ]


def init_api(url: str, token: str = "test-token", version: str = "v26.0") -> FacebookAdsApi:
    FacebookSession.GRAPH = url
    return FacebookAdsApi.init(access_token=token, crash_log=False, api_version=version)


@pytest.fixture()
def fb(clean_sandbox: SandboxHandle) -> Iterator[SandboxHandle]:
    original = FacebookSession.GRAPH
    init_api(clean_sandbox.url)
    yield clean_sandbox
    FacebookSession.GRAPH = original


def new_audience(name: str = "consenting_adults", account: str = "act_1001") -> CustomAudience:
    return AdAccount(account).create_custom_audience(
        params={
            "name": name,
            "subtype": "CUSTOM",
            "description": "test audience",
            "customer_file_source": "USER_PROVIDED_ONLY",
        }
    )


def platform(sb: SandboxHandle) -> dict[str, dict]:
    return {a["name"]: a for a in httpx.get(f"{sb.url}/_sandbox/facebook/audiences").json()["audiences"]}


def member_ids(sb: SandboxHandle, audience_id: str) -> set[str]:
    body = httpx.get(f"{sb.url}/_sandbox/facebook/audiences/{audience_id}/members").json()
    if not body["data"]:
        return set()
    col = body["schema"].index("EXTERN_ID")
    return {r[col] for r in body["data"]}


def test_create_read_and_list_audiences(fb: SandboxHandle) -> None:
    created = [new_audience(f"audience_{i}") for i in range(5)]
    assert all(a["id"].isdigit() for a in created)
    got = CustomAudience(created[0]["id"]).api_get(
        fields=["name", "description", "subtype", "approximate_count_lower_bound", "operation_status"]
    )
    assert got["name"] == "audience_0" and got["subtype"] == "CUSTOM"
    assert got["approximate_count_lower_bound"] == 0
    listed = list(AdAccount("act_1001").get_custom_audiences(fields=["id", "name"], params={"limit": 2}))
    assert [a["name"] for a in listed] == [f"audience_{i}" for i in range(5)]  # cursor paging across pages
    assert list(AdAccount("act_2002").get_custom_audiences(fields=["name"])) == []
    with pytest.raises(FacebookRequestError) as err, pytest.warns(UserWarning, match="no_such_field"):
        CustomAudience(created[0]["id"]).api_get(fields=["no_such_field"])
    assert err.value.api_error_code() == 100


def test_creation_errors(fb: SandboxHandle) -> None:
    with pytest.raises(FacebookRequestError) as err:
        AdAccount("act_1001").create_custom_audience(params={"name": "x", "subtype": "CUSTOM"})
    assert err.value.api_error_code() == 100  # customer_file_source missing
    with pytest.raises(FacebookRequestError) as err:
        new_audience("diabetes_patients")
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (100, 1713230)
    lookalike = AdAccount("act_1001").create_custom_audience(
        params={
            "name": "lal",
            "subtype": "LOOKALIKE",
            "origin_audience_id": new_audience()["id"],
            "lookalike_spec": json.dumps({"type": "custom_ratio", "ratio": 0.01, "country": "FR"}),
        }
    )
    assert CustomAudience(lookalike["id"]).api_get(fields=["subtype"])["subtype"] == "LOOKALIKE"


def test_add_counts_invalid_entries_and_stores_the_key_rows(fb: SandboxHandle) -> None:
    aud = new_audience()
    data = rows(50)
    data[3][1] = "NOT-A-HASH"
    data[4] = [""] * len(SCHEMA)
    resp = aud.create_user(params={"payload": {"schema": SCHEMA, "data": data}})
    assert resp["num_received"] == 50 and resp["num_invalid_entries"] == 2
    assert "NOT-A-HASH" in resp["invalid_entry_samples"]
    assert platform(fb)["consenting_adults"]["member_count"] == 48
    stored = httpx.get(f"{fb.url}/_sandbox/facebook/audiences/{aud['id']}/members").json()
    assert stored["schema"] == SCHEMA
    assert stored["data"][0] == rows(1)[0]
    # adding the same identities again keeps one member each
    aud.create_user(params={"payload": {"schema": SCHEMA, "data": rows(3)}})
    assert platform(fb)["consenting_adults"]["member_count"] == 48
    # single-key schema as the SDK sends it
    single = aud.create_user(
        params={"payload": {"schema": "EMAIL_SHA256", "data": [sha("solo@mail.example")]}}
    )
    assert single["num_received"] == 1 and single["num_invalid_entries"] == 0
    assert platform(fb)["consenting_adults"]["member_count"] == 49


def test_remove_with_delete_and_with_the_method_override(fb: SandboxHandle) -> None:
    api = FacebookAdsApi.get_default_api()
    aud = new_audience()
    aud.create_user(params={"payload": {"schema": SCHEMA, "data": rows(1000)}})
    small = api.call("DELETE", (aud["id"], "users"), params={"payload": {"schema": SCHEMA, "data": rows(5)}})
    assert small.json()["num_received"] == 5
    # thousands of rows in a DELETE query string: HTTP 414 with an HTML page, which the SDK calls success
    big = api.call(
        "DELETE", (aud["id"], "users"), params={"payload": {"schema": SCHEMA, "data": rows(300, 5)}}
    )
    assert big.status() == 414 and big.is_success() and "num_received" not in big.body()
    assert platform(fb)["consenting_adults"]["member_count"] == 995
    # the same removal in a POST body with Graph's method override works
    over = api.call(
        "POST",
        (aud["id"], "users"),
        params={"payload": {"schema": SCHEMA, "data": rows(300, 5)}, "method": "delete"},
    )
    assert over.json()["num_received"] == 300
    assert member_ids(fb, aud["id"]) == {f"p{i}" for i in range(305, 1000)}


def test_ten_thousand_rows_per_call(fb: SandboxHandle) -> None:
    aud = new_audience()
    ok = aud.create_user(params={"payload": {"schema": SCHEMA[:2], "data": [r[:2] for r in rows(10_000)]}})
    assert ok["num_received"] == 10_000
    with pytest.raises(FacebookRequestError) as err:
        aud.create_user(params={"payload": {"schema": SCHEMA[:2], "data": [r[:2] for r in rows(10_001)]}})
    assert err.value.api_error_code() == 100 and err.value.http_status() == 400
    with pytest.raises(FacebookRequestError) as err:
        aud.create_user(params={"payload": {"schema": SCHEMA, "data": [["p1", "x"]]}})
    assert err.value.api_error_code() == 100  # rows must match the schema
    assert platform(fb)["consenting_adults"]["member_count"] == 10_000


def test_usersreplace_session(fb: SandboxHandle) -> None:
    aud = new_audience()
    aud.create_user(params={"payload": {"schema": SCHEMA, "data": rows(20)}})
    with pytest.raises(FacebookRequestError) as err:
        aud.create_users_replace(
            params={
                "payload": {"schema": SCHEMA, "data": rows(5)},
                "session": {"session_id": 7, "batch_seq": 2, "last_batch_flag": True},
            }
        )
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (2650, 1870147)
    session = {"session_id": 123456789, "estimated_num_total": 30}
    for seq, start in ((1, 100), (2, 110), (3, 120)):
        resp = aud.create_users_replace(
            params={
                "payload": {"schema": SCHEMA, "data": rows(10, start)},
                "session": {**session, "batch_seq": seq, "last_batch_flag": seq == 3},
            }
        )
        assert resp["num_received"] == 10 and resp["session_id"] == "123456789"
        if seq < 3:  # members change only when the last batch arrives
            assert member_ids(fb, aud["id"]) == {f"p{i}" for i in range(20)}
    assert member_ids(fb, aud["id"]) == {f"p{i}" for i in range(100, 130)}


def test_token_version_and_deleted_audience_errors(fb: SandboxHandle) -> None:
    aud = new_audience()
    init_api(fb.url, token="")
    with pytest.raises(FacebookRequestError) as err:
        CustomAudience(aud["id"]).api_get(fields=["name"])
    assert err.value.api_error_code() == 190
    init_api(fb.url, token="EXPIRED-token")
    with pytest.raises(FacebookRequestError) as err:
        CustomAudience(aud["id"]).api_get(fields=["name"])
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (190, 463)
    init_api(fb.url, version="v24.0")
    with pytest.raises(FacebookRequestError) as err:
        CustomAudience(aud["id"]).api_get(fields=["name"])
    assert err.value.api_error_code() == 2635
    init_api(fb.url, version="v25.0")
    assert CustomAudience(aud["id"]).api_get(fields=["name"])["name"] == "consenting_adults"
    CustomAudience(aud["id"]).api_delete()
    with pytest.raises(FacebookRequestError) as err:
        aud.create_user(params={"payload": {"schema": SCHEMA, "data": rows(1)}})
    assert err.value.api_error_subcode() == 1487366
    assert "consenting_adults" not in platform(fb)


def test_hourly_call_budget(fb: SandboxHandle) -> None:
    httpx.post(
        f"{fb.url}/_sandbox/config",
        json={"graph_calls_per_hour_base": 3, "graph_calls_per_hour_per_audience": 0},
    )
    for _ in range(3):
        list(AdAccount("act_1001").get_custom_audiences(fields=["name"]))
    with pytest.raises(FacebookRequestError) as err:
        list(AdAccount("act_1001").get_custom_audiences(fields=["name"]))
    assert (err.value.api_error_code(), err.value.api_error_subcode()) == (17, 2446079)
    assert err.value.http_status() == 400 and err.value.api_transient_error()
    assert "X-Business-Use-Case-Usage" in err.value.http_headers()
    httpx.post(f"{fb.url}/_sandbox/config", json={"rate_limit_status": 429})
    with pytest.raises(FacebookRequestError) as err:
        list(AdAccount("act_1001").get_custom_audiences(fields=["name"]))
    assert err.value.http_status() == 429
    assert list(AdAccount("act_3003").get_custom_audiences()) == []  # each ad account has its own budget


@pytest.mark.parametrize(
    ("kind", "status", "codes"),
    [
        ("500", 500, {1}),
        ("503", 503, {None}),
        ("429", 429, {4}),
        ("graph_rate_limit", 400, {17, 613, 80003}),
    ],
)
def test_faulted_requests_change_nothing(fb: SandboxHandle, kind: str, status: int, codes: set) -> None:
    aud = new_audience()
    aud.create_user(params={"payload": {"schema": SCHEMA, "data": rows(10)}})
    assert (
        httpx.post(f"{fb.url}/_sandbox/faults", json={"rate": 1.0, "kinds": [kind], "seed": 1}).status_code
        == 200
    )
    for attempt in (
        lambda: aud.create_user(params={"payload": {"schema": SCHEMA, "data": rows(10, 10)}}),
        lambda: CustomAudience(aud["id"]).api_delete(),
        lambda: new_audience("never_created"),
    ):
        with pytest.raises(FacebookRequestError) as err:
            attempt()
        assert err.value.http_status() == status
        assert err.value.api_error_code() in codes
    httpx.post(f"{fb.url}/_sandbox/faults", json={"rate": 0})
    assert set(platform(fb)) == {"consenting_adults"}
    assert member_ids(fb, aud["id"]) == {f"p{i}" for i in range(10)}
    assert httpx.get(f"{fb.url}/_sandbox/stats").json()["faults_injected"][kind] == 3


def test_timeout_fault_holds_the_request_and_changes_nothing(fb: SandboxHandle) -> None:
    aud = new_audience()
    httpx.post(f"{fb.url}/_sandbox/faults", json={"rate": 1.0, "kinds": ["timeout"], "timeout_seconds": 2})
    FacebookAdsApi.init(access_token="test-token", crash_log=False, api_version="v26.0", timeout=0.5)
    with pytest.raises(requests.exceptions.Timeout):
        CustomAudience(aud["id"]).create_user(params={"payload": {"schema": SCHEMA, "data": rows(3)}})
    httpx.post(f"{fb.url}/_sandbox/faults", json={"rate": 0})
    assert member_ids(fb, aud["id"]) == set()


def test_partial_fault_rate_is_reproducible(fb: SandboxHandle) -> None:
    def run() -> list[int]:
        httpx.post(f"{fb.url}/_sandbox/faults", json={"rate": 0.5, "kinds": ["500"], "seed": 42})
        out = []
        for _ in range(20):
            out.append(
                httpx.get(
                    f"{fb.url}/v26.0/act_1001/customaudiences", params={"access_token": "t"}
                ).status_code
            )
        return out

    first, second = run(), run()
    assert first == second and {200, 500} == set(first)


def test_state_survives_a_restart(world_dir: Path, tmp_path: Path) -> None:
    original = FacebookSession.GRAPH
    try:
        with start_background(world_dir, tmp_path) as sb:
            init_api(sb.url)
            aud = new_audience("kept")
            aud.create_user(params={"payload": {"schema": SCHEMA, "data": rows(25)}})
        with start_background(world_dir, tmp_path) as sb:
            init_api(sb.url)
            assert platform(sb)["kept"]["member_count"] == 25
            assert (
                CustomAudience(aud["id"]).api_get(fields=["approximate_count_lower_bound"])[
                    "approximate_count_lower_bound"
                ]
                == 25
            )
    finally:
        FacebookSession.GRAPH = original
