"""The CRM file drop: contacts and orders as CSV or Parquet files in a folder, each file loaded once.

Where: the Airflow connection ``crm_files`` with extra ``path`` (a folder, or a
``file://`` URL); without it, ``<world>/crm_drop`` of the local sandbox world.
Files are ``contacts_*.csv|parquet`` → ``raw.files__contacts`` and
``orders_*.csv|parquet`` → ``raw.files__orders``, taken in name order.

Each file is remembered in ``ops.ingested_files`` (name, size, mtime, SHA-256)
in the same transaction as its rows: an unchanged file (same name, size and
mtime, or the same content under any name) is never loaded again; a file whose
content changed is a new file. CSV: the delimiter is sniffed, UTF-8 (with or
without BOM) is read as such, anything else as latin-1; rows are read with the
csv module (streaming). Parquet: ``iter_batches`` (streaming). A bad row (wrong
number of fields, no id, a value of the wrong type, an impossible date) goes to
``raw.rejects`` with its file and line (or row) number; a file that cannot be
read at all is rejected whole and remembered, so it is not retried every hour
(delete its row in ``ops.ingested_files`` to retry it).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg

from audience import connections, ingest
from audience.ingest import BatchResult, Record, Reject, ensure_raw_table
from audience.sources import files_fast
from audience.warehouse import copy_rows

log = logging.getLogger(__name__)

SOURCE = "files"
ENTITIES = ("contacts", "orders")
SUFFIXES = (".csv", ".parquet")
SNIFF_BYTES = 64 * 1024
HASH_CHUNK = 1 << 20
PARQUET_BATCH = 10_000
FILES_DDL = """
create table if not exists ops.ingested_files (
    source     text not null,
    entity     text not null,
    name       text not null,
    size       bigint not null,
    mtime_ns   bigint not null,
    sha256     text not null,
    status     text not null,
    rows_loaded bigint not null,
    rows_rejected bigint not null,
    loaded_at  timestamptz not null default now(),
    primary key (source, entity, sha256)
)
"""
ID_COLUMNS = {"contacts": ("customer_id", "contact_id", "id"), "orders": ("order_id",)}


@dataclass(frozen=True)
class FilesSettings:
    folder: Path

    @classmethod
    def resolve(cls) -> FilesSettings:
        """The drop folder: connection ``crm_files`` extra ``path``, else the sandbox world's ``crm_drop``."""
        conn = connections.get("crm_files")
        if conn is None:
            from audience import runtime  # noqa: PLC0415

            return cls(runtime.world_dir() / "crm_drop")
        raw = conn.extra.get("path") or conn.schema or ""
        if not raw:
            raise connections.SettingError(
                "the Airflow connection 'crm_files' has no extra 'path': set it to the drop folder "
                "(a local path or file:// URL)"
            )
        return cls(folder_from(str(raw)))


def folder_from(value: str) -> Path:
    """A folder from a path or ``file://`` URL; other schemes are refused with what to do."""
    parts = urlsplit(value)
    if parts.scheme in ("", "file") or re.fullmatch(r"[A-Za-z]", parts.scheme):
        return Path(unquote(parts.path) if parts.scheme == "file" else value).expanduser()
    raise connections.SettingError(
        f"crm_files path scheme '{parts.scheme}' is not supported: mount the object store as a folder "
        "(or sync it to one) and give its path or a file:// URL"
    )


@dataclass(frozen=True)
class DropFile:
    path: Path
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.path.name


def list_files(folder: Path, entity: str) -> list[DropFile]:
    if not folder.is_dir():
        raise connections.SettingError(
            f"the CRM drop folder {folder} does not exist: create it or point connection 'crm_files' "
            "(extra 'path') at the right one"
        )
    out = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.startswith(f"{entity}_") and path.suffix.lower() in SUFFIXES:
            st = path.stat()
            out.append(DropFile(path, st.st_size, st.st_mtime_ns))
    return out


def file_digest(path: Path) -> tuple[str, bool]:
    """SHA-256 of the file and whether it is valid UTF-8 (one streaming pass)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return digest.hexdigest(), utf8


def _known(conn: psycopg.Connection, entity: str) -> tuple[set[tuple[str, int, int]], set[str]]:
    rows = conn.execute(
        "select name, size, mtime_ns, sha256 from ops.ingested_files where source = %s and entity = %s",
        (SOURCE, entity),
    ).fetchall()
    return {(r[0], int(r[1]), int(r[2])) for r in rows}, {r[3] for r in rows}


# ----------------------------------------------------------------------------- row checks


def _parse_datetime(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    text = str(value).strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def _check_contact(row: dict[str, Any], where: str) -> tuple[str | None, str | None] | Reject:
    """(record id or None, updated_at) of a contact row, or the reason it is malformed."""
    rid = next((str(row[c]).strip() for c in ID_COLUMNS["contacts"] if str(row.get(c) or "").strip()), None)
    try:
        updated = _parse_datetime(row.get("updated_at"))
    except ValueError:
        return Reject(f"bad_timestamp: updated_at is not a datetime ({where})", row)
    birth = row.get("birth_date")
    if birth not in (None, "") and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(birth).strip()):
        try:
            date.fromisoformat(str(birth).strip())
        except ValueError:
            return Reject(f"bad_date: birth_date is an impossible date ({where})", row)
    return rid, updated


def _check_order(row: dict[str, Any], where: str) -> tuple[str | None, str | None] | Reject:
    rid = str(row.get("order_id") or "").strip()
    if not rid:
        return Reject(f"missing_id: order has no order_id ({where})", row)
    try:
        amount = float(str(row.get("amount")).replace(",", "."))
        if math.isnan(amount) or math.isinf(amount):
            raise ValueError
    except ValueError:
        return Reject(f"bad_type: amount is not a number (order {rid}, {where})", row)
    if not (row.get("customer_id") or row.get("contact_email")):
        return Reject(
            f"missing_contact: order {rid} has neither customer_id nor contact_email ({where})", row
        )
    try:
        ordered = _parse_datetime(row.get("ordered_at"))
    except ValueError:
        return Reject(f"bad_timestamp: ordered_at is not a datetime (order {rid}, {where})", row)
    if ordered is None:
        return Reject(f"bad_timestamp: order {rid} has no ordered_at ({where})", row)
    return rid, ordered


CHECKS: dict[str, Callable[[dict[str, Any], str], tuple[str | None, str | None] | Reject]] = {
    "contacts": _check_contact,
    "orders": _check_order,
}


def _item(entity: str, name: str, line: int, row: dict[str, Any]) -> Record | Reject:
    where = f"{name} line {line}"
    checked = CHECKS[entity](row, where)
    if isinstance(checked, Reject):
        checked.payload = {"_file": name, "_line": line, **row}
        return checked
    rid, updated = checked
    payload = {"_file": name, "_line": line, **row}
    return Record(rid or f"{name}:{line}", updated, payload)


# ----------------------------------------------------------------------------- readers


def csv_dialect(fh: Any) -> str:
    """The delimiter of an open CSV text file, sniffed from its first line; leaves the file at its start."""
    sample = fh.read(SNIFF_BYTES)
    fh.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample.split("\n", 20)[0] if sample else ",", delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return dialect.delimiter


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be read as a record: why, and its fields as they were (kept in raw.rejects)."""

    reason: str
    fields: list[str]


def read_csv(path: Path, utf8: bool) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    """(line number, row as dict) per data row; a BadRow instead says what is wrong with the row."""
    encoding = "utf-8-sig" if utf8 else "latin-1"
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=csv_dialect(fh), quotechar='"')
        header = next(reader, None)
        if not header:
            return
        columns = [h.strip().lower() for h in header]
        for row in reader:
            line = reader.line_num
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) != len(columns):
                reason = f"bad_row: {len(row)} fields, expected {len(columns)} ({path.name} line {line})"
                yield line, BadRow(reason, row)
                continue
            yield line, {c: (v if v != "" else None) for c, v in zip(columns, row, strict=True)}


def read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    import pyarrow.parquet as pq  # noqa: PLC0415

    pf = pq.ParquetFile(path)
    n = 0
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
        for row in batch.to_pylist():
            n += 1
            yield n, {k.lower(): parquet_value(v) for k, v in row.items()}


def parquet_value(value: Any) -> Any:
    """A Parquet value as JSON data: dates and times in ISO 8601, decimals as their exact text,
    binary as UTF-8 text when it is some (else PostgreSQL's hex form ``\\x…``), lists and maps
    element by element."""
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "\\x" + value.hex()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [parquet_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): parquet_value(v) for k, v in value.items()}
    return value


def _file_items(entity: str, f: DropFile, utf8: bool, stats: dict[str, Any]) -> Iterator[Record | Reject]:
    rows = read_csv(f.path, utf8) if f.path.suffix.lower() == ".csv" else read_parquet(f.path)
    loaded = rejected = 0
    try:
        for line, row in rows:
            if isinstance(row, BadRow):
                rejected += 1
                yield Reject(row.reason, {"_file": f.name, "_line": line, "_fields": row.fields})
                continue
            item = _item(entity, f.name, line, row)
            if isinstance(item, Reject):
                rejected += 1
            else:
                loaded += 1
            yield item
        stats["status"] = "loaded"
    except (OSError, ValueError, csv.Error, UnicodeDecodeError) as exc:
        # pyarrow's errors derive from ValueError/OSError: the file is unreadable past this point
        rejected += 1
        stats["status"] = "unreadable"
        yield Reject(
            f"unreadable_file: {type(exc).__name__} after {loaded + rejected - 1} rows ({f.name})",
            {"_file": f.name},
        )
    stats["loaded"], stats["rejected"] = loaded, rejected


def load_entity(
    conn: psycopg.Connection, entity: str, *, settings: FilesSettings | None = None
) -> BatchResult:
    """Load every new ``<entity>_*`` file of the drop folder into ``raw.files__<entity>``, in one batch."""
    from audience.warehouse import ensure_schemas  # noqa: PLC0415

    if entity not in ENTITIES:
        raise ValueError(f"unknown file-drop entity {entity!r}; use one of {', '.join(ENTITIES)}")
    settings = settings or FilesSettings.resolve()
    ensure_schemas(conn)
    conn.execute(FILES_DDL)
    conn.commit()
    known_stat, known_sha = _known(conn, entity)
    todo: list[tuple[DropFile, str, bool]] = []
    skipped = 0
    for f in list_files(settings.folder, entity):
        if (f.name, f.size, f.mtime_ns) in known_stat:
            skipped += 1
            continue
        sha, utf8 = file_digest(f.path)
        if sha in known_sha:
            skipped += 1
            continue
        known_sha.add(sha)
        todo.append((f, sha, utf8))
    done: list[tuple[DropFile, str, dict[str, Any]]] = []
    table = ensure_raw_table(conn, SOURCE, entity, record_index=False)
    conn.commit()
    batch_id = f"{SOURCE}-{entity}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    result = BatchResult(SOURCE, entity, batch_id)
    started = time.monotonic()
    rejects: list[Reject] = []
    row_by_row = 0
    try:
        for f, sha, utf8 in todo:
            stats = _load_file(conn, table, entity, f, utf8, batch_id, rejects)
            row_by_row += stats.pop("row_by_row", 0)
            result.rows_loaded += stats["loaded"]
            done.append((f, sha, stats))
        ingest._flush_rejects(conn, SOURCE, entity, batch_id, rejects, result)  # noqa: SLF001
        for f, sha, stats in done:
            # in the batch's transaction: a file is remembered only if its rows commit
            conn.execute(
                "insert into ops.ingested_files (source, entity, name, size, mtime_ns, sha256, status, "
                "rows_loaded, rows_rejected) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "on conflict (source, entity, sha256) do nothing",
                (
                    SOURCE,
                    entity,
                    f.name,
                    f.size,
                    f.mtime_ns,
                    sha,
                    stats["status"],
                    stats["loaded"],
                    stats["rejected"],
                ),
            )
        if done:
            result.watermark_to = {"last_file": done[-1][0].name, "sha256": done[-1][1], "files": len(done)}
        ingest.commit_batch(conn, result)
    except BaseException:
        conn.rollback()
        raise
    result.duration_s = round(time.monotonic() - started, 3)
    result.rows_skipped = skipped
    log.info(
        "files.%s: batch %s: %d new files (%d read row by row), %d already loaded, in %s: "
        "loaded %d rows, rejected %d, in %.1fs",
        entity,
        batch_id,
        len(done),
        row_by_row,
        skipped,
        settings.folder,
        result.rows_loaded,
        result.rows_rejected,
        result.duration_s,
    )
    return result


def _load_file(
    conn: psycopg.Connection,
    table: str,
    entity: str,
    f: DropFile,
    utf8: bool,
    batch_id: str,
    rejects: list[Reject],
) -> dict[str, Any]:
    """COPY one file's rows into ``table`` (in the caller's transaction): a column at a time when the
    file is regular, else row by row. Returns its status and counts; its rejects go to ``rejects``."""
    is_csv = f.path.suffix.lower() == ".csv"
    mine: list[Reject] = []
    # a savepoint inside the batch's one transaction (conn.transaction() would commit the file on its
    # own when no transaction is open yet): an irregular file is rolled back to it, then read row by row
    conn.execute("savepoint files_fast")
    try:
        out = files_fast.copy_file(
            conn,
            table,
            entity,
            f.path,
            utf8,
            batch_id,
            files_fast.python_rows(entity, f.name, batch_id, csv_rows=is_csv),
            mine,
        )
        conn.execute("release savepoint files_fast")
        rejects.extend(mine)
        return {"status": "loaded", "loaded": out.loaded, "rejected": out.rejected}
    except files_fast.Irregular as why:
        conn.execute("rollback to savepoint files_fast")
        log.info("files.%s: %s is read row by row (%s)", entity, f.name, why)
    stats: dict[str, Any] = {"row_by_row": 1}
    mine = []
    rows = ingest.record_rows(batch_id, _file_items(entity, f, utf8, stats), mine)
    stats["loaded"] = copy_rows(conn, table, ingest.RAW_COLUMNS, rows)
    stats["rejected"] = len(mine)
    stats.setdefault("status", "loaded")
    rejects.extend(mine)
    return stats


def load_contacts(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: FilesSettings | None = None,
) -> BatchResult:
    """New ``contacts_*`` files → ``raw.files__contacts``. ``full_refresh`` forgets which files were loaded."""
    return _load(conn, "contacts", full_refresh, settings)


def load_orders(
    conn: psycopg.Connection,
    *,
    full_refresh: bool = False,
    since: str | None = None,
    settings: FilesSettings | None = None,
) -> BatchResult:
    """New ``orders_*`` files → ``raw.files__orders``. ``since`` has no meaning for files (each is new once)."""
    return _load(conn, "orders", full_refresh, settings)


def _load(
    conn: psycopg.Connection, entity: str, full_refresh: bool, settings: FilesSettings | None
) -> BatchResult:
    if full_refresh:
        from audience.warehouse import ensure_schemas  # noqa: PLC0415

        ensure_schemas(conn)
        conn.execute(FILES_DDL)
        conn.execute("delete from ops.ingested_files where source = %s and entity = %s", (SOURCE, entity))
        conn.commit()
    return load_entity(conn, entity, settings=settings)
