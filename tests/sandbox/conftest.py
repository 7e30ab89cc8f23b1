"""Fixtures for the sandbox tests: one small world per session, one server per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.config import SandboxConfig
from sandbox.server import SandboxHandle, start_background

WORLD_CONTACTS = 1_500


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sandbox.world import generate

    path = tmp_path_factory.mktemp("sandbox-world")
    generate(path, contacts=WORLD_CONTACTS, events_per_contact=3, seed=11)
    return path


@pytest.fixture(scope="module")
def sandbox_server(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    state = tmp_path_factory.mktemp("sandbox-state")
    handle = start_background(world_dir, state, config=SandboxConfig())
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture()
def clean_sandbox(sandbox_server: SandboxHandle) -> Iterator[SandboxHandle]:
    """The module's server with empty state, no faults and default limits (restored afterwards too)."""

    def reset() -> None:
        for path, body in (
            ("/_sandbox/reset", None),
            ("/_sandbox/faults", {"rate": 0}),
            ("/_sandbox/config", SandboxConfig().to_dict()),
        ):
            resp = httpx.post(sandbox_server.url + path, json=body, timeout=10)
            assert resp.status_code == 200, resp.text

    reset()
    yield sandbox_server
    reset()
