"""Run the sandbox over real HTTP: in the foreground, or in a background process for tests and demos.

``serve`` runs uvicorn in this process. ``start_background`` starts
``python -m sandbox serve ...`` in a subprocess, waits until ``GET /health``
answers, and returns a handle with ``.url`` and ``.stop()`` (also a context
manager). The subprocess writes its log to ``<state_dir>/sandbox.log`` and
exits by itself if its parent dies.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from json import loads
from pathlib import Path
from types import TracebackType

from sandbox.config import FaultConfig, SandboxConfig, dumps

log = logging.getLogger(__name__)

LOG_FILE = "sandbox.log"
# headers may be long (h11's limit covers the request line too): our own check answers 414 at 8 KiB
H11_MAX_HEADERS = 64 * 1024 * 1024


class SandboxError(RuntimeError):
    """The sandbox server could not start."""


def serve(
    host: str,
    port: int,
    world_dir: Path,
    state_dir: Path,
    faults: FaultConfig | None = None,
    *,
    config: SandboxConfig | None = None,
    exit_with_parent: bool = False,
) -> None:
    """Serve the sandbox APIs in the foreground until interrupted."""
    import uvicorn  # noqa: PLC0415

    from sandbox.app import create_app  # noqa: PLC0415

    app = create_app(Path(world_dir), Path(state_dir), faults, config=config)
    # what the app read at start (the contacts' index, the social pages' posts and comments: 1.6M
    # objects the collector tracks at 1M contacts) lives as long as the process. Frozen, it is
    # left out of the collector's full passes, which walked all of it: 2.1-2.3 s a pass alone,
    # about 3 s under load, twice in a 655,645-member Custom Audience upload (README, Benchmark)
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http="h11",
            h11_max_incomplete_event_size=H11_MAX_HEADERS,
            timeout_graceful_shutdown=3,
            lifespan="off",
        )
    )
    if exit_with_parent:
        parent = os.getppid()

        def watch() -> None:
            while not server.should_exit:
                if os.getppid() != parent:
                    log.warning("sandbox: parent process %d is gone; stopping", parent)
                    server.should_exit = True
                    return
                time.sleep(1.0)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    server.run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SandboxHandle:
    """A sandbox server running in a subprocess."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxHandle(url={self.url!r}, pid={self.process.pid})"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310 - loopback URL we built
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _world_contacts(world_dir: Path) -> int:
    try:
        return int(loads((Path(world_dir) / "world.json").read_text()).get("contacts") or 0)
    except (OSError, ValueError, TypeError):
        return 0


def start_background(
    world_dir: Path,
    state_dir: Path,
    port: int = 0,
    faults: FaultConfig | None = None,
    *,
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
    timeout: float | None = None,
) -> SandboxHandle:
    """Start the sandbox in a subprocess and wait (up to ``timeout`` s) for it to answer /health.

    The default timeout grows with the world: the sandbox indexes its contacts and reads the social
    pages' posts and comments before it answers (about 25 s and 16 s per million contacts on this
    project's reference machine, more under load).
    """
    state_dir = Path(state_dir)
    if timeout is None:
        timeout = 30.0 + 90.0 * _world_contacts(world_dir) / 1_000_000
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / LOG_FILE
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    attempts = 3 if port == 0 else 1
    for attempt in range(1, attempts + 1):
        chosen = port or free_port(host)
        cmd = [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--host",
            host,
            "--port",
            str(chosen),
            "--world",
            str(world_dir),
            "--state",
            str(state_dir),
            "--exit-with-parent",
        ]
        if faults is not None:
            cmd += ["--faults", dumps(faults)]
        if config is not None:
            cmd += ["--config", dumps(config)]
        with open(log_path, "ab") as log_fh:
            process = subprocess.Popen(
                cmd, stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        url = f"http://{host}:{chosen}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _healthy(url):
                log.info("sandbox: serving at %s (pid %d)", url, process.pid)
                return SandboxHandle(process, url, log_path)
            time.sleep(0.1)
        handle = SandboxHandle(process, url, log_path)
        handle.stop()
        tail = _log_tail(log_path)
        if attempt < attempts and "address already in use" in tail.lower():
            continue  # another program took the free port first: try another
        raise SandboxError(
            f"the sandbox did not answer {url}/health within {timeout:.0f}s "
            f"(exit code {process.returncode}); last lines of {log_path}:\n{tail}"
        )
    raise SandboxError(
        "the sandbox could not find a free port"
    )  # pragma: no cover - loop always returns/raises
