"""LinkedIn DMP segments: the sandbox twin's contract over HTTP, and LinkedInDestination's answers handling."""

from __future__ import annotations

import json

import pytest
import requests

from audience.destinations.base import DestinationError
from audience.destinations.linkedin import LinkedInDestination, LinkedInSettings
from audience.identity import sha256_hex
from audience.retry import RetryPolicy
from audience.settings import SettingError

HEADERS = {
    "Authorization": "Bearer sandbox-token",
    "LinkedIn-Version": "202604",
    "X-Restli-Protocol-Version": "2.0.0",
}
ACCOUNT = "urn:li:sponsoredAccount:510000001"
USERS = {**HEADERS, "X-RestLi-Method": "BATCH_CREATE"}


@pytest.fixture()
def url(graph_sandbox):
    requests.post(f"{graph_sandbox.url}/_sandbox/reset", timeout=10).raise_for_status()
    yield graph_sandbox.url
    requests.post(f"{graph_sandbox.url}/_sandbox/config", json={"linkedin_calls_per_minute": 600}, timeout=10)


def create(url: str, name: str = "seg") -> str:
    body = {
        "name": name,
        "sourcePlatform": "X",
        "account": ACCOUNT,
        "accessPolicy": "PRIVATE",
        "type": "USER",
    }
    answer = requests.post(f"{url}/rest/dmpSegments", json=body, headers=HEADERS, timeout=10)
    assert answer.status_code == 201 and answer.content == b""
    return answer.headers["x-restli-id"]


def element(action: str, value: str, **extra: str) -> dict:
    return {"action": action, "userIds": [{"idType": "SHA256_EMAIL", "idValue": value}], **extra}


# --------------------------------------------------------------------------- the sandbox twin


def test_versioned_headers_and_token_are_enforced(url):
    path = f"{url}/rest/dmpSegments?q=account&account={ACCOUNT}"
    retired = requests.get(path, headers={**HEADERS, "LinkedIn-Version": "202001"}, timeout=10)
    assert retired.status_code == 426 and retired.json()["code"] == "NONEXISTENT_VERSION"
    no_restli = requests.get(
        path, headers={k: v for k, v in HEADERS.items() if "Restli" not in k}, timeout=10
    )
    assert no_restli.status_code == 400
    bad = requests.get(path, headers={**HEADERS, "Authorization": "Bearer INVALID"}, timeout=10)
    assert bad.status_code == 401
    assert bad.json() == {
        "status": 401,
        "serviceErrorCode": 65600,
        "code": "INVALID_ACCESS_TOKEN",
        "message": "Invalid access token",
    }


def test_create_find_and_stream_users_with_per_element_statuses(url):
    first, second = create(url, "a"), create(url, "b")
    found = requests.get(
        f"{url}/rest/dmpSegments",
        params={"q": "account", "account": ACCOUNT, "start": 1, "count": 1},
        headers=HEADERS,
        timeout=10,
    ).json()
    assert found["paging"] == {"start": 1, "count": 1, "total": 2}
    assert [e["id"] for e in found["elements"]] == [int(second)]
    alice, bob = sha256_hex("alice@example.com"), sha256_hex("bob@example.com")
    answer = requests.post(
        f"{url}/rest/dmpSegments/{first}/users",
        json={
            "elements": [
                element("ADD", alice, firstName="Alice"),
                element("ADD", "not-a-hash"),
                element("REMOVE", bob),  # absent: still 201
                element("ADD", alice),  # twice: still 201
            ]
        },
        headers=USERS,
        timeout=10,
    )
    assert answer.status_code == 200
    statuses = [e["status"] for e in answer.json()["elements"]]
    assert statuses == [201, 400, 201, 201]
    assert "not-a-hash" not in answer.text  # the refusal does not echo the value
    held = requests.get(f"{url}/_sandbox/linkedin/segments/{first}/members", timeout=10).json()
    assert held["count"] == 1 and held["members"][0]["idValue"] == alice


def test_batch_cap_method_header_and_missing_segment(url):
    segment = create(url)
    too_many = {"elements": [element("ADD", sha256_hex(str(i))) for i in range(5_001)]}
    answer = requests.post(
        f"{url}/rest/dmpSegments/{segment}/users", json=too_many, headers=USERS, timeout=30
    )
    assert answer.status_code == 400 and "at most 5000" in answer.json()["message"]
    one = {"elements": [element("ADD", sha256_hex("x"))]}
    no_method = requests.post(
        f"{url}/rest/dmpSegments/{segment}/users", json=one, headers=HEADERS, timeout=10
    )
    assert no_method.status_code == 400 and "BATCH_CREATE" in no_method.json()["message"]
    missing = requests.post(f"{url}/rest/dmpSegments/999/users", json=one, headers=USERS, timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    held = requests.get(f"{url}/_sandbox/linkedin/segments", timeout=10).json()["segments"]
    assert held[0]["member_count"] == 0


def test_past_the_call_budget_linkedin_answers_429(url):
    requests.post(
        f"{url}/_sandbox/config", json={"linkedin_calls_per_minute": 1}, timeout=10
    ).raise_for_status()
    segment = create(url)
    one = {"elements": [element("ADD", sha256_hex("x"))]}
    ok = requests.post(f"{url}/rest/dmpSegments/{segment}/users", json=one, headers=USERS, timeout=10)
    limited = requests.post(f"{url}/rest/dmpSegments/{segment}/users", json=one, headers=USERS, timeout=10)
    assert ok.status_code == 200
    assert limited.status_code == 429
    assert limited.json()["code"] == "TOO_MANY_REQUESTS" and limited.json()["status"] == 429


# --------------------------------------------------------------------------- the destination, scripted answers


class ScriptedSession(requests.Session):
    """Answers from a script of (status, body, headers); records what was sent."""

    def __init__(self, script: list[tuple[int, object, dict]]) -> None:
        super().__init__()
        self.script = list(script)
        self.sent: list[tuple[str, str, dict]] = []

    def request(self, method, url, **kwargs):  # noqa: ANN001, ANN201
        self.sent.append((method, url, {**self.headers, **(kwargs.get("headers") or {})}))
        status, body, headers = self.script.pop(0)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode() if body is not None else b""
        response.headers.update(headers)
        return response


def scripted(script, sleeps):
    settings = LinkedInSettings(
        access_token="t", ad_account_id="42", base_url="http://li.test", create_wait_s=5
    )
    return LinkedInDestination(
        settings,
        retry=RetryPolicy(attempts=3, base_delay=0.0),
        sleep=sleeps.append,
        session=ScriptedSession(script),
    )


def test_retry_after_is_honoured_and_statuses_counted():
    sleeps: list[float] = []
    good, bad = sha256_hex("a"), sha256_hex("b")
    dest = scripted(
        [
            (429, {"status": 429, "code": "TOO_MANY_REQUESTS", "message": "slow down"}, {"Retry-After": "7"}),
            (503, None, {}),
            (200, {"elements": [{"status": 201}, {"status": 400, "error": {"message": "bad id"}}]}, {}),
        ],
        sleeps,
    )
    result = dest.add("77", ("SHA256_EMAIL",), [[good], [bad]])
    assert (result.received, result.invalid, result.requests) == (1, 1, 3)
    assert result.invalid_samples == {bad: "bad id"}
    assert sleeps[0] >= 7
    method, url, headers = dest.session.sent[0]
    assert (method, url) == ("POST", "http://li.test/rest/dmpSegments/77/users")
    assert headers["LinkedIn-Version"] == "202604" and headers["X-RestLi-Method"] == "BATCH_CREATE"


def test_a_permanent_error_carries_linkedin_s_message_and_is_not_retried():
    sleeps: list[float] = []
    body = {
        "status": 401,
        "serviceErrorCode": 65600,
        "code": "INVALID_ACCESS_TOKEN",
        "message": "Invalid token",
    }
    dest = scripted([(401, body, {})], sleeps)
    with pytest.raises(DestinationError) as caught:
        dest.remove("77", ("SHA256_EMAIL",), [[sha256_hex("a")]])
    assert (caught.value.code, caught.value.http_status) == (65600, 401)
    assert "INVALID_ACCESS_TOKEN: Invalid token" in str(caught.value) and not sleeps


def test_create_waits_before_users_and_raw_emails_are_refused():
    sleeps: list[float] = []
    dest = scripted(
        [
            (200, {"elements": [], "paging": {"start": 0, "count": 100, "total": 0}}, {}),
            (201, None, {"x-restli-id": "123"}),
        ],
        sleeps,
    )
    assert dest.find_or_create_audience("seg", "d") == "123"
    assert sleeps == [5]
    with pytest.raises(DestinationError, match="not a SHA-256"):
        dest.add("123", ("SHA256_EMAIL",), [["alice@example.com"]])
    with pytest.raises(SettingError, match="api_version"):
        LinkedInSettings(access_token="t", ad_account_id="1", api_version="v2")
