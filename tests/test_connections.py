from __future__ import annotations

import pytest

from audience import connections
from audience.settings import SettingError


def test_uri_with_token_and_port():
    conn = connections.parse("hubspot", "https://:tok%2Fen@127.0.0.1:8000/?page_size=50")
    assert conn.conn_type == "https"
    assert (conn.host, conn.port, conn.password) == ("127.0.0.1", 8000, "tok/en")
    assert conn.extra == {"page_size": "50"}
    assert conn.base_url() == "https://127.0.0.1:8000"


def test_uri_with_percent_encoded_url_host():
    conn = connections.parse("hubspot", "http://:t@https%3A%2F%2Fapi.hubapi.com")
    assert conn.host == "https://api.hubapi.com"
    assert conn.base_url() == "https://api.hubapi.com"


def test_json_form_with_extra():
    conn = connections.parse(
        "facebook_ads", '{"conn_type": "http", "password": "p", "extra": {"ad_account_id": "123"}}'
    )
    assert conn.password == "p"
    assert conn.extra["ad_account_id"] == "123"


def test_password_not_in_repr():
    conn = connections.parse("x", "http://user:supersecret@host")
    assert "supersecret" not in repr(conn)


@pytest.mark.parametrize("bad", ["not a uri", '{"broken json'])
def test_bad_values_fail_with_the_variable_name(bad):
    with pytest.raises(SettingError, match="AIRFLOW_CONN_X"):
        connections.parse("x", bad)


def test_get_reads_environment(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SOMETHING", "postgresql://u:p@h:5/db")
    conn = connections.get("something")
    assert (conn.login, conn.schema, conn.port) == ("u", "db", 5)


def test_sandbox_url_missing_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("AUDIENCE_SANDBOX_URL", raising=False)
    monkeypatch.setenv("AUDIENCE_LOCAL_DIR", str(tmp_path))
    with pytest.raises(SettingError, match="audience sandbox serve"):
        connections.sandbox_url()
    assert connections.sandbox_url(required=False) is None
