"""FacebookDestination over real HTTP against a scripted Graph stub: answers checked, retries, batching.

The sync tests (test_sync.py) run the same code against the full sandbox.
"""

from __future__ import annotations

import json

import pytest
from facebook_business.adobjects.customaudience import CustomAudience
from graph_stub import Reply, users_ok

from audience import connections
from audience.destinations.base import DestinationError
from audience.destinations.facebook import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    FacebookDestination,
    FacebookSettings,
    check_users_answer,
    is_audience_gone,
    json_row_size,
)
from audience.identity import FACEBOOK_SCHEMA, sha256_hex
from audience.retry import RetryPolicy
from audience.settings import SettingError

HTML_414 = "<html><head><title>414 Request-URI Too Large</title></head><body>Too large</body></html>"


def rows(n: int, *, full: bool = True) -> list[list[str]]:
    out = []
    for i in range(n):
        keys = [sha256_hex(f"{key}-{i}") if full or key == "EMAIL" else "" for key in FACEBOOK_SCHEMA[1:]]
        out.append([f"p{i:06d}", *keys])
    return out


@pytest.fixture()
def sleeps() -> list[float]:
    return []


@pytest.fixture()
def make(graph_stub, sleeps):
    def build(**overrides) -> FacebookDestination:
        settings = FacebookSettings(
            access_token="test-token", ad_account_id="act_42", base_url=graph_stub.url + "/", **overrides
        )
        return FacebookDestination(
            settings, retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05), sleep=sleeps.append
        )

    return build


# --------------------------------------------------------------------------- settings


def test_settings_from_the_facebook_ads_connection(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FACEBOOK_ADS",
        json.dumps(
            {
                "conn_type": "http",
                "host": "https://graph.example.test/",
                "password": "EAAB-secret",
                "extra": {"ad_account_id": "act_123456", "api_version": "v25.0", "max_payload_bytes": 500000},
            }
        ),
    )
    settings = FacebookSettings.resolve()
    assert settings.base_url == "https://graph.example.test"
    assert settings.ad_account_id == "123456"
    assert settings.api_version == "v25.0"
    assert settings.max_payload_bytes == 500_000
    assert not settings.is_sandbox
    assert "EAAB-secret" not in repr(settings)


def test_settings_connection_without_host_means_the_real_graph_api(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FACEBOOK_ADS", "facebook://:tok@/?ad_account_id=99")
    settings = FacebookSettings.resolve()
    assert settings.base_url == "https://graph.facebook.com"
    assert settings.api_version == "v26.0"
    assert settings.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES


def test_settings_connection_without_account_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_FACEBOOK_ADS", "facebook://:tok@graph.facebook.com")
    with pytest.raises(SettingError, match="ad_account_id"):
        FacebookSettings.resolve()


def test_settings_fall_back_to_the_sandbox(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_FACEBOOK_ADS", raising=False)
    monkeypatch.setattr(connections, "get", lambda conn_id: None)
    monkeypatch.setenv("AUDIENCE_SANDBOX_URL", "http://127.0.0.1:9999/")
    settings = FacebookSettings.resolve()
    assert settings.is_sandbox
    assert (settings.base_url, settings.access_token, settings.ad_account_id) == (
        "http://127.0.0.1:9999",
        "sandbox-token",
        "1000000001",
    )


def test_settings_reject_bad_values():
    with pytest.raises(SettingError, match="not like v26.0"):
        FacebookSettings(access_token="t", ad_account_id="1", api_version="26")
    with pytest.raises(SettingError, match="not numeric"):
        FacebookSettings(access_token="t", ad_account_id="act_abc")
    with pytest.raises(SettingError, match="max_rows_per_request"):
        FacebookSettings(access_token="t", ad_account_id="1", max_rows_per_request=20_000)


# --------------------------------------------------------------------------- members


def test_add_posts_prehashed_rows_in_the_body(make, graph_stub):
    graph_stub.default = users_ok
    dest = make()
    result = dest.add("555", FACEBOOK_SCHEMA, rows(3))
    assert (result.sent, result.received, result.invalid, result.requests) == (3, 3, 0, 1)
    [seen] = graph_stub.seen
    assert (seen.method, seen.path) == ("POST", "/v26.0/555/users")
    assert seen.query == {"access_token": ["test-token"]}
    payload = json.loads(seen.form["payload"][0])
    assert payload == {"schema": list(FACEBOOK_SCHEMA), "data": rows(3)}
    assert "method" not in seen.form


def test_remove_sends_a_post_with_method_delete_and_the_rows_in_the_body(make, graph_stub):
    graph_stub.default = users_ok
    dest = make()
    result = dest.remove("555", FACEBOOK_SCHEMA, rows(2_000))
    assert result.received == 2_000
    assert {s.method for s in graph_stub.seen} == {"POST"}
    assert all(s.form["method"] == ["delete"] for s in graph_stub.seen)
    # the request line stays tiny whatever the number of rows
    assert max(s.request_line_bytes for s in graph_stub.seen) < 200
    assert sum(len(json.loads(s.form["payload"][0])["data"]) for s in graph_stub.seen) == 2_000


def test_batches_respect_the_row_cap(make, graph_stub):
    graph_stub.default = users_ok
    dest = make(max_rows_per_request=10)
    result = dest.add("555", FACEBOOK_SCHEMA, rows(25))
    assert [len(json.loads(s.form["payload"][0])["data"]) for s in graph_stub.seen] == [10, 10, 5]
    assert (result.received, result.requests) == (25, 3)


def test_batches_respect_the_payload_cap(make, graph_stub):
    graph_stub.default = users_ok
    cap = 50_000
    dest = make(max_payload_bytes=cap)
    full = rows(300)
    assert json_row_size(full[0]) > 600  # ~650 bytes per multi-key row of JSON
    dest.add("555", FACEBOOK_SCHEMA, full)
    assert len(graph_stub.seen) > 1
    assert all(s.body_bytes <= cap for s in graph_stub.seen)
    assert sum(len(json.loads(s.form["payload"][0])["data"]) for s in graph_stub.seen) == 300


def test_sparse_rows_reach_the_row_cap_before_the_byte_cap(make, graph_stub):
    graph_stub.default = users_ok
    dest = make(max_rows_per_request=1_000)
    dest.add("555", FACEBOOK_SCHEMA, rows(2_500, full=False))
    assert [len(json.loads(s.form["payload"][0])["data"]) for s in graph_stub.seen] == [1_000, 1_000, 500]


def test_unhashed_values_are_never_sent(make, graph_stub):
    dest = make()
    bad = rows(2)
    bad[1][1] = "john@example.com"
    with pytest.raises(DestinationError, match="not a SHA-256") as info:
        dest.add("555", FACEBOOK_SCHEMA, bad)
    assert "john" not in str(info.value)
    assert graph_stub.seen == []


def test_a_414_html_page_is_an_error_not_a_success(make, graph_stub):
    graph_stub.default = lambda seen: Reply(414, HTML_414)
    dest = make()
    with pytest.raises(DestinationError, match="too long") as info:
        dest.remove("555", FACEBOOK_SCHEMA, rows(5))
    assert info.value.http_status == 414 and not info.value.retryable
    assert len(graph_stub.seen) == 1  # not retried


def test_the_sdk_itself_takes_a_414_page_for_success_and_our_check_catches_it(make, graph_stub):
    graph_stub.default = lambda seen: Reply(414, "<html><body>Request-URI Too Large</body></html>")
    dest = make()
    audience = CustomAudience("555", api=dest.api)
    response = audience.remove_users(list(FACEBOOK_SCHEMA), rows(5), is_raw=True, pre_hashed=True)
    assert response.status() == 414  # the SDK raised nothing
    assert graph_stub.seen[0].method == "DELETE" and "payload" in graph_stub.seen[0].query
    with pytest.raises(DestinationError, match="HTTP 414"):
        check_users_answer(response, 5)


def test_an_html_page_mentioning_success_is_an_error_too(make, graph_stub):
    # the SDK's success test indexes such a body like a dict and raises TypeError
    graph_stub.default = lambda seen: Reply(200, "<html><body>success</body></html>")
    with pytest.raises(DestinationError, match="could not be read"):
        make().add("555", FACEBOOK_SCHEMA, rows(3))


def test_a_non_json_200_is_an_error(make, graph_stub):
    graph_stub.default = lambda seen: Reply(200, "<html>OK</html>")
    with pytest.raises(DestinationError, match="not JSON"):
        make().add("555", FACEBOOK_SCHEMA, rows(3))


def test_num_received_mismatch_is_an_error(make, graph_stub):
    graph_stub.default = lambda seen: Reply(
        200, {"audience_id": "555", "num_received": 2, "num_invalid_entries": 0}
    )
    with pytest.raises(DestinationError, match="acknowledged 2 rows of 3"):
        make().add("555", FACEBOOK_SCHEMA, rows(3))


def test_invalid_entries_are_counted_and_samples_kept(make, graph_stub):
    def partly_invalid(seen):
        reply = users_ok(seen)
        reply.body.update(num_invalid_entries=1, invalid_entry_samples={"abc": "invalid hash"})
        return reply

    graph_stub.default = partly_invalid
    result = make().add("555", FACEBOOK_SCHEMA, rows(3))
    assert (result.received, result.invalid, result.invalid_samples) == (3, 1, {"abc": "invalid hash"})


# --------------------------------------------------------------------------- retries and errors


def graph_error(code: int, status: int = 400, subcode: int | None = None, transient: bool = False) -> Reply:
    error = {"message": f"error {code}", "type": "OAuthException", "code": code, "is_transient": transient}
    if subcode:
        error["error_subcode"] = subcode
    return Reply(status, {"error": error})


@pytest.mark.parametrize(
    "first",
    [
        Reply(429, {"error": {"message": "slow down", "code": 4}}, {"Retry-After": "0"}),
        graph_error(17, subcode=2446079),
        graph_error(613, subcode=1487742),
        graph_error(80003),
        graph_error(2, status=500, transient=True),
        Reply(502, "<html>Bad Gateway</html>"),
        Reply(503, ""),
    ],
    ids=["http429", "code17", "code613", "code80003", "transient", "502html", "503empty"],
)
def test_rate_limits_and_transient_failures_are_retried(make, graph_stub, sleeps, first):
    graph_stub.script = [first]
    graph_stub.default = users_ok
    dest = make()
    result = dest.add("555", FACEBOOK_SCHEMA, rows(4))
    assert result.received == 4
    assert result.requests == 2
    assert len(sleeps) == 1


def test_business_use_case_header_sets_the_wait(make, graph_stub, sleeps):
    usage = json.dumps({"1": [{"type": "custom_audience", "estimated_time_to_regain_access": 1}]})
    graph_stub.script = [Reply(400, graph_error(80003).body, {"X-Business-Use-Case-Usage": usage})]
    graph_stub.default = users_ok
    dest = make()
    dest.retry = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.2)
    dest.add("555", FACEBOOK_SCHEMA, rows(1))
    assert sleeps and sleeps[0] >= 0.2  # one minute asked, capped by the policy


def test_permanent_errors_raise_at_once_with_code_and_message(make, graph_stub, sleeps):
    graph_stub.default = lambda seen: graph_error(190, subcode=463)
    with pytest.raises(DestinationError) as info:
        make().add("555", FACEBOOK_SCHEMA, rows(2))
    err = info.value
    assert (err.code, err.subcode, err.http_status, err.retryable) == (190, 463, 400, False)
    assert "error 190" in str(err) and "p000000" not in str(err)
    assert len(graph_stub.seen) == 1 and sleeps == []


def test_retries_are_bounded(make, graph_stub, sleeps):
    graph_stub.default = lambda seen: Reply(500, {"error": {"message": "boom", "code": 1}})
    with pytest.raises(DestinationError, match="still failing after 3 attempts") as info:
        make().add("555", FACEBOOK_SCHEMA, rows(2))
    assert info.value.retryable
    assert len(graph_stub.seen) == 3 and len(sleeps) == 2


def test_connection_errors_are_retried_then_reported(sleeps):
    settings = FacebookSettings(
        access_token="t", ad_account_id="1", base_url="http://127.0.0.1:9", timeout_s=2
    )
    dest = FacebookDestination(settings, retry=RetryPolicy(attempts=2, base_delay=0.01), sleep=sleeps.append)
    with pytest.raises(DestinationError, match="ConnectionError"):
        dest.add("555", FACEBOOK_SCHEMA, rows(1))
    assert len(sleeps) == 1


def test_audience_gone_is_recognised(make, graph_stub):
    graph_stub.default = lambda seen: graph_error(100, subcode=1487366)
    with pytest.raises(DestinationError) as info:
        make().add("555", FACEBOOK_SCHEMA, rows(1))
    assert is_audience_gone(info.value)


# --------------------------------------------------------------------------- audiences


def test_find_or_create_pages_through_the_list_before_creating(make, graph_stub):
    page2 = f"{graph_stub.url}/v26.0/act_42/customaudiences?after=c2"
    graph_stub.script = [
        Reply(
            200,
            {"data": [{"id": "1", "name": "other"}], "paging": {"cursors": {"after": "c2"}, "next": page2}},
        ),
        Reply(
            200, {"data": [{"id": "7", "name": "consenting_adults"}], "paging": {"cursors": {"after": "c3"}}}
        ),
    ]
    dest = make()
    assert dest.find_or_create_audience("consenting_adults", "neutral") == "7"
    assert [s.method for s in graph_stub.seen] == ["GET", "GET"]
    assert graph_stub.seen[1].query["after"] == ["c2"]


def test_find_or_create_creates_a_customer_list_when_absent(make, graph_stub):
    graph_stub.script = [Reply(200, {"data": []}), Reply(200, {"id": "900"})]
    dest = make()
    assert dest.find_or_create_audience("consenting_adults", "A neutral description") == "900"
    create = graph_stub.seen[1]
    assert (create.method, create.path) == ("POST", "/v26.0/act_42/customaudiences")
    assert create.form["subtype"] == ["CUSTOM"]
    assert create.form["customer_file_source"] == ["USER_PROVIDED_ONLY"]
    assert create.form["name"] == ["consenting_adults"]


def test_read_and_members_count(make, graph_stub):
    graph_stub.default = lambda seen: Reply(
        200, {"id": "900", "name": "consenting_adults", "approximate_count_lower_bound": 1200}
    )
    dest = make()
    assert dest.read("900")["name"] == "consenting_adults"
    assert dest.members_count("900") == 1200
    assert graph_stub.seen[0].path.rstrip("/") == "/v26.0/900"
    assert "approximate_count_lower_bound" in graph_stub.seen[0].query["fields"][0]


def test_an_html_gateway_page_on_the_list_is_retried_not_taken_for_an_empty_account(make, graph_stub, sleeps):
    graph_stub.script = [
        Reply(504, "<html><body><h1>504 Gateway Time-out</h1></body></html>"),
        Reply(200, {"data": [{"id": "7", "name": "consenting_adults"}]}),
    ]
    dest = make()
    assert dest.find_or_create_audience("consenting_adults", "neutral") == "7"
    assert [s.method for s in graph_stub.seen] == ["GET", "GET"]  # no duplicate created
    assert len(sleeps) == 1
