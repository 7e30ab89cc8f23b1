"""The sandbox process: start, stop, failures, request-line limit, settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sandbox.app import create_app, endpoint_key
from sandbox.config import ConfigError, FaultConfig, SandboxConfig
from sandbox.server import SandboxError, SandboxHandle, start_background


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_and_stop(world_dir: Path, tmp_path: Path) -> None:
    with start_background(world_dir, tmp_path, faults=FaultConfig(rate=0.25, kinds=("503",), seed=4)) as sb:
        assert sb.url.startswith("http://127.0.0.1:") and sb.port > 0
        health = httpx.get(f"{sb.url}/health").json()
        assert health["status"] == "ok" and health["contacts"] == 1_500
        assert httpx.get(f"{sb.url}/_sandbox/faults").json()["rate"] == 0.25
        assert httpx.get(f"{sb.url}/_sandbox/world").json()["seed"] == 11
        pid = sb.process.pid
    assert sb.process.poll() is not None and not _alive(pid)
    assert (tmp_path / "sandbox.log").exists() and (tmp_path / "hubspot_index.npz").exists()


def test_what_the_app_read_at_start_is_frozen_before_it_serves(
    world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` freezes the objects the app made at start (its world) before the server runs: the
    collector's full passes then leave them out (at 1M contacts, 1.6M objects: a pass over them took
    2.1-2.3 s). Frozen objects are in no generation that ``gc.get_objects`` lists."""
    import gc

    import uvicorn

    from sandbox import server

    seen: dict[str, object] = {}

    class RecordingServer:
        def __init__(self, config: uvicorn.Config) -> None:
            self.config = config
            self.should_exit = False

        def run(self) -> None:
            app = self.config.app
            seen["frozen"] = gc.get_freeze_count()
            seen["app_collectable"] = any(obj is app for obj in gc.get_objects())

    monkeypatch.setattr(uvicorn, "Server", RecordingServer)
    gc.unfreeze()
    try:
        server.serve("127.0.0.1", 0, world_dir, tmp_path / "state")
    finally:
        gc.unfreeze()  # this test process's objects go back to the collector
    assert seen["frozen"] > 0
    assert seen["app_collectable"] is False


def test_a_broken_world_fails_with_the_servers_own_message(tmp_path: Path) -> None:
    world = tmp_path / "world"
    world.mkdir()
    (world / "hubspot_contacts.jsonl").write_text('{"id": "1", "properties": {}}\nnot json\n')
    with pytest.raises(SandboxError, match="regenerate the world"):
        start_background(world, tmp_path / "state", timeout=20)


def test_an_empty_world_serves_graph_and_an_empty_crm(tmp_path: Path) -> None:
    with start_background(tmp_path / "no-world", tmp_path / "state") as sb:
        page = httpx.post(
            f"{sb.url}/crm/v3/objects/contacts/search", json={}, headers={"Authorization": "Bearer x"}
        ).json()
        assert page == {"total": 0, "results": []}
        created = httpx.post(
            f"{sb.url}/v26.0/act_1/customaudiences",
            data={"name": "a", "customer_file_source": "USER_PROVIDED_ONLY", "access_token": "t"},
        )
        assert created.status_code == 200 and created.json()["id"].isdigit()


def test_request_line_limit_is_414_with_an_html_page(sandbox_server: SandboxHandle) -> None:
    url = f"{sandbox_server.url}/v26.0/act_1/customaudiences"
    base = len("GET ") + len("/v26.0/act_1/customaudiences?access_token=t&x=") + len(" HTTP/1.1")
    fits = httpx.get(url, params={"access_token": "t", "x": "a" * (8192 - base)})
    assert fits.status_code == 200
    too_long = httpx.get(url, params={"access_token": "t", "x": "a" * (8193 - base)})
    assert too_long.status_code == 414
    assert too_long.headers["content-type"].startswith("text/html") and "414" in too_long.text
    stats = httpx.get(f"{sandbox_server.url}/_sandbox/stats").json()
    assert stats["by_endpoint"]["GET /{v}/act_{id}/customaudiences"]["414"] >= 1


def test_the_server_stops_when_its_parent_dies(world_dir: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from pathlib import Path
        import os
        from sandbox.server import start_background
        h = start_background(Path({str(world_dir)!r}), Path({str(tmp_path)!r}))
        print(h.process.pid, flush=True)
        os._exit(0)  # no stop(): the server must notice by itself
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    pid = int(proc.stdout.strip())
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    assert not _alive(pid)


def test_settings_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        FaultConfig(rate=2)
    with pytest.raises(ConfigError, match="not understood"):
        FaultConfig.from_dict({"kinds": "500,boom"})
    assert FaultConfig.from_dict({"kinds": "500, 503"}).kinds == ("500", "503")
    with pytest.raises(ConfigError, match="400 or 429"):
        SandboxConfig(rate_limit_status=500)
    assert SandboxConfig.from_env({"SANDBOX_RATE_LIMIT_STATUS": "429"}).rate_limit_status == 429
    with pytest.raises(ConfigError, match="not a number"):
        SandboxConfig.from_env({"SANDBOX_GRAPH_MAX_ROWS": "lots"})
    client = TestClient(create_app(tmp_path / "w", tmp_path / "s", config=SandboxConfig()))
    bad = client.post("/_sandbox/faults", json={"rate": 0.5, "kinds": ["nope"]})
    assert bad.status_code == 400 and "not understood" in bad.json()["error"]
    assert client.post("/_sandbox/config", json={"unknown": 1}).status_code == 400
    assert client.post("/_sandbox/config", json={"graph_max_rows": 5}).json()["graph_max_rows"] == 5


def test_endpoint_keys_hide_ids() -> None:
    assert endpoint_key("POST", "/v26.0/23850000000000001/users") == "POST /{v}/{id}/users"
    assert endpoint_key("GET", "/v26.0/act_42/customaudiences") == "GET /{v}/act_{id}/customaudiences"
    assert endpoint_key("GET", "/v26.0/2385/") == "GET /{v}/{id}"
    assert endpoint_key("PATCH", "/crm/v3/objects/contacts/123") == "PATCH /crm/v3/objects/contacts/{id}"
