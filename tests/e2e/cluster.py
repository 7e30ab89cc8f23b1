"""A small Airflow cluster on this machine for one test: CeleryExecutor, PostgreSQL metadata, Redis broker.

``Cluster`` runs ``airflow api-server``, ``scheduler``, ``dag-processor`` and ``celery worker`` as
subprocesses (each in its own process group, logging to a file) with a dedicated ``AIRFLOW_HOME``, a
throwaway metadata database on a PostgreSQL server and its own Celery queue on a Redis database.
``close()`` kills every process group, drops the database and removes the queue's keys.

Settings (environment):

- ``AUDIENCE_TEST_AIRFLOW_DB``: an administrator's URL of the PostgreSQL server that holds the
  throwaway metadata database (default ``postgresql://postgres@127.0.0.1:5432/postgres``);
- ``AUDIENCE_TEST_CELERY_BROKER``: the Redis broker, with a non-zero database number so that it stays
  apart from whatever uses database 0 (default ``redis://127.0.0.1:6379/7``);
- ``AUDIENCE_TEST_CELERY_CONCURRENCY``: the worker's pool size (default 4);
- ``AUDIENCE_TEST_CLUSTER_TIMEOUT``: seconds the whole pipeline may take (default 1800).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from audience import runtime
from audience.settings import SettingError, env_int

DEFAULT_METADATA_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_BROKER = "redis://127.0.0.1:6379/7"

# the processes of the cluster; the triggerer is left out: no task here defers
COMMANDS = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler",),
    "dag-processor": ("dag-processor",),
    "worker": ("celery", "worker"),
}

# what a log tail must never show, even if a library logged it: e-mail addresses and phone numbers
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+\d{8,15}\b|\b0\d(?:[ .]?\d{2}){4}\b")


def redact(text: str) -> str:
    return _PHONE.sub("<phone?>", _EMAIL.sub("<email>", text))


def metadata_admin_url() -> str:
    return os.environ.get("AUDIENCE_TEST_AIRFLOW_DB") or DEFAULT_METADATA_ADMIN


def broker_url() -> str:
    url = os.environ.get("AUDIENCE_TEST_CELERY_BROKER") or DEFAULT_BROKER
    parts = urlsplit(url)
    db = parts.path.strip("/")
    if parts.scheme not in {"redis", "rediss"} or not db.isdigit() or int(db) == 0:
        raise SettingError(
            f"AUDIENCE_TEST_CELERY_BROKER={url!r}: expected redis://host:port/N with a database N > 0 "
            "(database 0 is left to other users of the server)"
        )
    return url


def unavailable() -> str | None:
    """Why the cluster cannot run here (a server is missing), or None."""
    import psycopg  # noqa: PLC0415
    import redis  # noqa: PLC0415

    admin = metadata_admin_url()
    try:
        with psycopg.connect(admin, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        where = urlsplit(admin)
        return (
            f"no PostgreSQL for Airflow's metadata at {where.hostname}:{where.port or 5432} "
            f"({type(exc).__name__}); set AUDIENCE_TEST_AIRFLOW_DB to an administrator's URL"
        )
    url = broker_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        where = urlsplit(url)
        return (
            f"no Redis broker at {where.hostname}:{where.port or 6379} ({type(exc).__name__}); "
            "set AUDIENCE_TEST_CELERY_BROKER=redis://host:port/N"
        )
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClusterError(AssertionError):
    pass


class Cluster:
    """One Airflow cluster under ``home``; use as a context manager (``close()`` always runs)."""

    def __init__(self, home: Path, *, extra_env: dict[str, str] | None = None) -> None:
        import psycopg  # noqa: PLC0415
        from cryptography.fernet import Fernet  # noqa: PLC0415

        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs = home / "process-logs"
        self.logs.mkdir(exist_ok=True)
        tag = secrets.token_hex(4)
        self.db_name = f"audience_airflow_{tag}"
        self.queue = f"audience-{tag}"
        self.broker = broker_url()
        self.concurrency = env_int("AUDIENCE_TEST_CELERY_CONCURRENCY", 4, minimum=1, maximum=32)
        self.procs: dict[str, subprocess.Popen] = {}
        admin = urlsplit(metadata_admin_url())
        self._admin = urlunsplit(admin)
        self.db_url = urlunsplit(admin._replace(path=f"/{self.db_name}"))
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(f'create database "{self.db_name}"')
        self._db_created = True
        self.api_port = _free_port()
        sqlalchemy_url = urlunsplit(admin._replace(scheme="postgresql+psycopg", path=f"/{self.db_name}"))
        self.env = {
            **os.environ,
            **runtime.airflow_env(home),
            **(extra_env or {}),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(max(self.concurrency * 2, 8)),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
            # the api-server signs the workers' task tokens; every process must share the secret
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            # a loaded machine answers slowly: the default 5 s timeout of the task API was hit
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__CELERY__BROKER_URL": self.broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sqlalchemy_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "audience.celery_config.CELERY_CONFIG",
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "30",
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            # its own queue: nothing else on this Redis database takes (or sends) its tasks
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            # each DAG file parsed once by the dag-processor (tasks parse their own file anyway)
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3600",
            "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # the dbt tasks' Cosmos cache (partial parse) belongs to this home
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        }

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """An ``airflow`` CLI command in the cluster's environment; raise with its output's tail on failure."""
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise ClusterError(
                f"airflow {' '.join(args)} exited {proc.returncode}:\n{redact((proc.stdout + proc.stderr)[-3000:])}"
            )
        return proc

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def wait_for_api(self, timeout: float) -> None:
        import httpx  # noqa: PLC0415

        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                if httpx.get(f"{self.api_url}/api/v2/version", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(f"the api-server did not answer within {timeout:.0f}s")
            time.sleep(1)

    def set_paused(self, dag_ids: Iterable[str], paused: bool) -> None:
        """Pause or unpause DAGs through the REST API (as the UI's toggle does)."""
        import httpx  # noqa: PLC0415

        # [core] simple_auth_manager_all_admins: the api-server treats every caller as an admin
        for dag_id in dag_ids:
            resp = httpx.patch(f"{self.api_url}/api/v2/dags/{dag_id}", json={"is_paused": paused}, timeout=60)
            if resp.status_code != 200:
                raise ClusterError(
                    f"PATCH dags/{dag_id} is_paused={paused}: {resp.status_code} {resp.text[:500]}"
                )

    def migrate(self) -> None:
        self.airflow("db", "migrate", timeout=600)

    def start(self) -> None:
        for name, args in COMMANDS.items():
            extra = (
                ("--concurrency", str(self.concurrency), "--queues", self.queue) if name == "worker" else ()
            )
            log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args, *extra],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each component's process tree has used so far, ended children included."""
        import psutil  # noqa: PLC0415

        out = {}
        for name, proc in self.procs.items():
            total = 0.0
            try:
                root = psutil.Process(proc.pid)
                for p in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        t = p.cpu_times()
                        total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
            out[name] = round(total, 1)
        return out

    def stop(self, grace: float = 30) -> None:
        """SIGTERM to every process group, then SIGKILL to whatever is left after ``grace`` seconds."""
        for proc in self.procs.values():
            if proc.poll() is None:
                _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():
            # the group may outlive its leader (pool processes, task processes): kill it whatever
            _signal_group(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait(timeout=10)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._drop()

    def _drop(self) -> None:
        import psycopg  # noqa: PLC0415
        import redis  # noqa: PLC0415

        if getattr(self, "_db_created", False):
            with psycopg.connect(self._admin, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{self.db_name}" with (force)')
            self._db_created = False
        try:
            client = redis.Redis.from_url(self.broker, socket_connect_timeout=3, socket_timeout=3)
            keys = [self.queue, *client.scan_iter(match=f"*{self.queue}*")]
            client.delete(*keys)
        except redis.RedisError:
            pass

    # ------------------------------------------------------------------ state

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.db_url, connect_timeout=10) as conn:
            return conn.execute(sql, params).fetchall()

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise ClusterError(f"cluster process(es) exited: {dead}")

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float) -> None:
        """Until the dag-processor has serialized every DAG of ``dag_ids``."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            found = {
                r[0]
                for r in self.query(
                    "select d.dag_id from dag d join serialized_dag s using (dag_id) where not d.is_stale"
                )
            }
            if wanted <= found:
                return
            if time.monotonic() > deadline:
                errors = self.query("select filename, left(stacktrace, 2000) from import_error")
                raise ClusterError(
                    f"DAGs not parsed after {timeout:.0f}s: missing {sorted(wanted - found)}; {errors}"
                )
            time.sleep(1)

    def wait_for_runs(self, dag_ids: Iterable[str], deadline: float) -> dict[str, tuple[str, str]]:
        """Until each DAG of ``dag_ids`` has a successful run; returns ``{dag_id: (run_id, run_type)}``.

        Fails at once when a run of one of them fails, or at ``deadline`` (a ``time.monotonic()`` value).
        """
        wanted = set(dag_ids)
        while True:
            self.check_alive()
            rows = self.query(
                "select dag_id, run_id, run_type, state from dag_run where dag_id = any(%s) order by id",
                (sorted(wanted),),
            )
            failed = [(d, r) for d, r, _, s in rows if s == "failed"]
            if failed:
                raise ClusterError(f"DAG run(s) failed: {failed}; tasks: {self.task_states(failed)}")
            done = {d: (r, t) for d, r, t, s in rows if s == "success"}
            if wanted <= set(done):
                return done
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out; runs so far: {rows}; unfinished tasks: {self.unfinished_tasks()}"
                )
            time.sleep(2)

    def task_states(self, runs: list[tuple[str, str]]) -> list[tuple]:
        out = []
        for dag_id, run_id in runs:
            out += self.query(
                "select task_id, map_index, state, try_number from task_instance "
                "where dag_id = %s and run_id = %s and state not in ('success', 'skipped') order by task_id",
                (dag_id, run_id),
            )
        return out

    def unfinished_tasks(self) -> list[tuple]:
        return self.query(
            "select dag_id, task_id, state, try_number from task_instance "
            "where state is null or state not in ('success', 'skipped') order by dag_id, task_id limit 40"
        )

    def task_failures(self) -> list[tuple]:
        return self.query(
            "select dag_id, run_id, task_id, map_index, try_number from task_instance "
            "where state in ('failed', 'up_for_retry', 'upstream_failed') order by start_date limit 10"
        )

    # ------------------------------------------------------------------ diagnostics

    def report(self, lines: int = 40) -> str:
        """The tail of each process's log and of each failed task's log, e-mails and phone numbers masked."""
        parts = []
        for name in COMMANDS:
            path = self.logs / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"----- {name} (last {len(tail)} lines)\n" + "\n".join(tail))
        try:
            failures = self.task_failures()
        except Exception as exc:  # noqa: BLE001 - diagnostics must not hide the original failure
            failures = []
            parts.append(f"----- task failures unavailable: {type(exc).__name__}")
        for dag_id, run_id, task_id, _map_index, _try in failures:
            for path in sorted(
                (self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/**/*.log")
            ):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"----- task log {path.relative_to(self.home)}\n" + "\n".join(tail))
        return redact("\n".join(parts))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
