"""``audience identity normalize``: contact fields in, a platform's normalised and hashed keys out.

Reads JSON lines of contact fields (:data:`FIELDS`) and writes, for each input
line, one JSON line with the platform's keys, in input order:

- ``facebook``: :data:`FACEBOOK_KEYS`, Meta's multi-key schema: ``EXTERN_ID``
  as given (trimmed, not hashed) and the others SHA-256 (lower-case hex) of the
  value normalised per Meta's rules, ``""`` when missing;
- ``linkedin``: ``SHA256_EMAIL`` (hashed) and ``firstName``, ``lastName``,
  ``country`` (ISO2) in plain text, as LinkedIn's DMP segment users take them.

With ``reasons`` (the default), each output line also carries ``_reasons``: an
object ``{key: why}`` for each value that was given but came out empty
(``{"PHONE": "not a valid phone number for FR", "DOBY": "impossible date"}``),
and ``{"_line": "not valid JSON"}`` (or ``"not a JSON object"``, ``"not valid
UTF-8"``) for a line that could not be read, whose keys are all empty. A line
is never dropped: input line N gives output line N. Reasons never hold the
values themselves, and nothing is logged but counts.

There is one implementation of the rules: the dbt macros in
``dbt_project/macros/normalisation/`` that the warehouse runs to build
``int_persons__hashed``. This module compiles macro ``identity_normalize_query``
once with dbt (cached under ``.local/identity-normalize/``, keyed by a hash of the
macros and settings, so later calls skip dbt), then streams the input through the
warehouse in chunks (:data:`CHUNK_LINES` lines): COPY into a temporary table, one
query, rows out. Memory stays flat whatever the input size.

National phone numbers without a country are read in dbt var
``default_country_iso2`` (FR), as in the warehouse; birth dates are checked
against ``as_of`` (``--as-of``; default AUDIENCE_AS_OF_DATE, unset: today).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg

from audience.settings import SettingError, local_dir, project_root

log = logging.getLogger(__name__)

FIELDS: tuple[str, ...] = (
    "email",
    "phone",
    "country",
    "first_name",
    "last_name",
    "city",
    "state",
    "zip",
    "birth_date",
    "gender",
    "external_id",
)
"""The contact fields read from each input object (others are ignored)."""

FACEBOOK_KEYS: tuple[str, ...] = (
    "EXTERN_ID",
    "EMAIL",
    "PHONE",
    "FN",
    "LN",
    "CT",
    "ST",
    "ZIP",
    "COUNTRY",
    "DOBY",
    "GEN",
)
LINKEDIN_KEYS: tuple[str, ...] = ("SHA256_EMAIL", "firstName", "lastName", "country")
PLATFORMS: tuple[str, ...] = ("facebook", "linkedin")
REASONS_FIELD = "_reasons"
LINE_REASON_KEY = "_line"
CHUNK_LINES = 10_000

# the query's column for each output key
_COLUMN_BY_KEY: dict[str, dict[str, str]] = {
    "facebook": {
        key: ("extern_id" if key == "EXTERN_ID" else f"{key.lower()}_sha256") for key in FACEBOOK_KEYS
    },
    "linkedin": {
        "SHA256_EMAIL": "sha256_email",
        "firstName": "first_name",
        "lastName": "last_name",
        "country": "country",
    },
}
# the output key an input field feeds (for reasons about the field's type)
_KEY_BY_FIELD: dict[str, dict[str, str]] = {
    "facebook": {
        "external_id": "EXTERN_ID",
        "email": "EMAIL",
        "phone": "PHONE",
        "first_name": "FN",
        "last_name": "LN",
        "city": "CT",
        "state": "ST",
        "zip": "ZIP",
        "country": "COUNTRY",
        "birth_date": "DOBY",
        "gender": "GEN",
    },
    "linkedin": {
        "email": "SHA256_EMAIL",
        "first_name": "firstName",
        "last_name": "lastName",
        "country": "country",
    },
}

INPUT_TABLE = "pg_temp.audience_normalize_input"
COUNTRY_CODES_TABLE = "pg_temp.audience_normalize_country_codes"
COUNTRY_NAMES_TABLE = "pg_temp.audience_normalize_country_names"
_SPLIT = "-- audience:normalize:split"
# what is compiled (bump the version when this template or the query's contract changes)
_TEMPLATE_VERSION = "1"
_TEMPLATE = f"{{{{ country_names_unpivoted('{COUNTRY_CODES_TABLE}') }}}}\n{_SPLIT}\n" + f"\n{_SPLIT}\n".join(
    f"{{{{ identity_normalize_query('{p}', '{INPUT_TABLE}', '{COUNTRY_NAMES_TABLE}') }}}}" for p in PLATFORMS
)


class NormalizeError(RuntimeError):
    """The normaliser cannot run (the dbt macros do not compile, the warehouse is unreachable)."""


@dataclass(frozen=True)
class CompiledQueries:
    """SQL compiled from the dbt macros: the country lookup table and one query per platform."""

    country_names: str
    by_platform: dict[str, str]


@dataclass
class Stats:
    lines: int = 0
    unreadable: int = 0
    with_reasons: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- compiling


def _project_files(project: Path) -> list[Path]:
    files = sorted((project / "macros").rglob("*.sql"))
    return [project / "dbt_project.yml", project / "seeds" / "country_codes.csv", *files]


def as_of_date(value: str | None = None) -> str:
    """The "today" birth dates are checked against: ``value``, else AUDIENCE_AS_OF_DATE, else '' (today)."""
    text = (os.environ.get("AUDIENCE_AS_OF_DATE", "") if value is None else value).strip()
    if text and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text = "bad"
    if text:
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            source = "--as-of" if value is not None else "AUDIENCE_AS_OF_DATE"
            raise SettingError(
                f"{source} is not a date written YYYY-MM-DD; fix it or leave it unset"
            ) from None
    return text


def cache_key(as_of: str = "", project: Path | None = None) -> str:
    """A hash of everything the compiled SQL depends on: the macros, dbt_project.yml, the as-of date."""
    project = project or project_root() / "dbt_project"
    digest = hashlib.sha256()
    digest.update(f"{_TEMPLATE_VERSION}\n{_TEMPLATE}\nas_of={as_of}\n".encode())
    for path in _project_files(project):
        digest.update(str(path.relative_to(project)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def cache_dir() -> Path:
    return local_dir() / "identity-normalize"


_compiled: dict[str, CompiledQueries] = {}


def compiled_queries(as_of: str | None = None) -> CompiledQueries:
    """The compiled SQL: from memory, else from the cache file, else compiled by dbt (and cached)."""
    as_of = as_of_date(as_of)
    key = cache_key(as_of)
    if key in _compiled:
        return _compiled[key]
    path = cache_dir() / f"queries-{key}.json"
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        queries = CompiledQueries(data["country_names"], data["by_platform"])
        log.info("identity normalize: compiled SQL from cache %s", path.name)
    else:
        started = time.monotonic()
        queries = _compile_with_dbt(as_of)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps({"country_names": queries.country_names, "by_platform": queries.by_platform}),
            encoding="utf-8",
        )
        tmp.replace(path)
        log.info("identity normalize: compiled the dbt macros in %.1f s (cached)", time.monotonic() - started)
    _compiled[key] = queries
    return queries


def _compile_with_dbt(as_of: str) -> CompiledQueries:
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 - heavy import, only on a cache miss

    from audience import dbt  # noqa: PLC0415

    project = dbt.project_dir()
    work = cache_dir() / "dbt"
    env = dbt.dbt_env()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    captured = io.StringIO()
    try:
        # dbt prints the compiled inline query on stdout: keep it off ours (it holds no data)
        with contextlib.redirect_stdout(captured):
            result = dbtRunner().invoke(
                [
                    "compile",
                    "--quiet",
                    "--no-use-colors",
                    "--inline",
                    _TEMPLATE,
                    "--project-dir",
                    str(project),
                    "--profiles-dir",
                    str(project),
                    "--target-path",
                    str(work / "target"),
                    "--log-path",
                    str(work / "logs"),
                    "--vars",
                    json.dumps({"as_of_date": as_of}),
                ]
            )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if not result.success:
        raise NormalizeError(
            f"dbt could not compile the normalisation macros: {result.exception or 'see ' + str(work / 'logs')}"
        )
    code = result.result.results[0].node.compiled_code
    parts = [part.strip() for part in code.split(_SPLIT)]
    if len(parts) != 1 + len(PLATFORMS):
        raise NormalizeError("the compiled normalisation query does not have the expected parts")
    return CompiledQueries(parts[0], dict(zip(PLATFORMS, parts[1:], strict=True)))


# --------------------------------------------------------------------------- reading lines


def _text_value(value: Any) -> tuple[str | None, str | None]:
    """An input field as text (``None`` when absent) and why it was refused, if it was."""
    if value is None:
        return None, None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        return None, "not a text value"
    if isinstance(value, (int, float)):
        value = json.dumps(value)
    text = str(value)
    if "\x00" in text:
        return None, "not a text value"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None, "not valid UTF-8"
    return text, None


def parse_line(raw: bytes | str, platform: str) -> tuple[list[str | None], dict[str, str]]:
    """One input line -> the field values (in :data:`FIELDS` order) and reasons found reading it."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return [None] * len(FIELDS), {LINE_REASON_KEY: "not valid UTF-8"}
    try:
        obj = json.loads(raw)
    except ValueError:
        return [None] * len(FIELDS), {LINE_REASON_KEY: "not valid JSON"}
    if not isinstance(obj, dict):
        return [None] * len(FIELDS), {LINE_REASON_KEY: "not a JSON object"}
    values: list[str | None] = []
    reasons: dict[str, str] = {}
    keys = _KEY_BY_FIELD[platform]
    for name in FIELDS:
        text, reason = _text_value(obj.get(name))
        values.append(text)
        if reason and name in keys:
            reasons[keys[name]] = reason
    return values, reasons


# --------------------------------------------------------------------------- running


class Normalizer:
    """A warehouse session ready to normalise chunks of lines for one platform."""

    def __init__(self, conn: Any, platform: str, *, reasons: bool = True, as_of: str | None = None) -> None:
        if platform not in PLATFORMS:
            raise SettingError(f"platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
        self.conn = conn
        self.platform = platform
        self.reasons = reasons
        self.keys = FACEBOOK_KEYS if platform == "facebook" else LINKEDIN_KEYS
        self.stats = Stats()
        queries = compiled_queries(as_of)
        self.query = queries.by_platform[platform]
        self._prepare(queries)

    def _prepare(self, queries: CompiledQueries) -> None:
        seed = project_root() / "dbt_project" / "seeds" / "country_codes.csv"
        with seed.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows = list(reader)
        with self.conn.cursor() as cur:
            cols = ", ".join(
                f"{c} integer" if c.startswith(("phone_nsn", "zip_length")) else f"{c} text" for c in header
            )
            cur.execute(f"drop table if exists {COUNTRY_CODES_TABLE}")
            cur.execute(f"create temporary table {COUNTRY_CODES_TABLE.split('.')[1]} ({cols})")
            with cur.copy(f"copy {COUNTRY_CODES_TABLE} ({', '.join(header)}) from stdin") as copy:
                for row in rows:
                    copy.write_row([value if value != "" else None for value in row])
            cur.execute(f"drop table if exists {COUNTRY_NAMES_TABLE}")
            cur.execute(
                f"create temporary table {COUNTRY_NAMES_TABLE.split('.')[1]} as {queries.country_names}"
            )
            cur.execute(f"analyze {COUNTRY_NAMES_TABLE}")
            cur.execute(f"drop table if exists {INPUT_TABLE}")
            fields = ", ".join(f"{name} text" for name in FIELDS)
            cur.execute(
                f"create temporary table {INPUT_TABLE.split('.')[1]} (line_no integer not null, {fields})"
            )
        self.conn.commit()

    def run_chunk(self, lines: list[bytes | str]) -> list[dict[str, Any]]:
        """Normalise one chunk of input lines; one output object per line, in order."""
        parsed = [parse_line(line, self.platform) for line in lines]
        try:
            with self.conn.cursor() as cur:
                cur.execute(f"truncate {INPUT_TABLE}")
                with cur.copy(f"copy {INPUT_TABLE} (line_no, {', '.join(FIELDS)}) from stdin") as copy:
                    for number, (values, _) in enumerate(parsed):
                        copy.write_row([number, *values])
                cur.execute(self.query)
                names = [d.name for d in cur.description]
                rows = cur.fetchall()
            self.conn.commit()
        except psycopg.Error as exc:
            # the server's message may quote a value (COPY's context does): keep only its code
            first = self.stats.lines + 1
            raise NormalizeError(
                f"the warehouse failed on input lines {first}-{first + len(lines) - 1} "
                f"({type(exc).__name__}, SQLSTATE {exc.sqlstate}); nothing after line {first - 1} was written"
            ) from None
        if len(rows) != len(lines):  # pragma: no cover - the query keeps every row
            raise NormalizeError(f"the normalisation query returned {len(rows)} rows for {len(lines)} lines")
        columns = _COLUMN_BY_KEY[self.platform]
        out = []
        for (_, read_reasons), row in zip(parsed, rows, strict=True):
            record = dict(zip(names, row, strict=True))
            line_unreadable = LINE_REASON_KEY in read_reasons
            obj: dict[str, Any] = {
                key: ("" if line_unreadable else record[columns[key]]) for key in self.keys
            }
            found = {**(record["reasons"] or {}), **read_reasons}
            self._count(found, line_unreadable)
            if self.reasons:
                order = [LINE_REASON_KEY, *self.keys]
                obj[REASONS_FIELD] = {key: found[key] for key in order if key in found}
            out.append(obj)
        return out

    def _count(self, found: dict[str, str], unreadable: bool) -> None:
        self.stats.lines += 1
        self.stats.unreadable += int(unreadable)
        self.stats.with_reasons += int(bool(found))
        for key in found:
            self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1


def _chunks(lines: Iterable[bytes | str], size: int) -> Iterator[list[bytes | str]]:
    chunk: list[bytes | str] = []
    for line in lines:
        chunk.append(line.rstrip(b"\r\n") if isinstance(line, bytes) else line.rstrip("\r\n"))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def normalize_lines(
    lines: Iterable[bytes | str],
    platform: str,
    *,
    reasons: bool = True,
    chunk_lines: int = CHUNK_LINES,
    conn: Any = None,
    stats: Stats | None = None,
    as_of: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Normalise JSON lines (str or bytes, with or without their newline); one object per line, in order."""
    if platform not in PLATFORMS:
        raise SettingError(f"--platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
    if chunk_lines < 1:
        raise SettingError(f"chunk size must be at least 1 line, not {chunk_lines}")
    owned = conn is None
    if owned:
        from audience import warehouse  # noqa: PLC0415

        conn = warehouse.connect()
    try:
        normalizer = Normalizer(conn, platform, reasons=reasons, as_of=as_of)
        for chunk in _chunks(lines, chunk_lines):
            yield from normalizer.run_chunk(chunk)
        if stats is not None:
            stats.__dict__.update(normalizer.stats.__dict__)
    finally:
        if owned:
            conn.close()


def run(
    platform: str,
    *,
    stdin: IO[bytes],
    stdout: IO[str],
    reasons: bool = True,
    chunk_lines: int = CHUNK_LINES,
    as_of: str | None = None,
) -> Stats:
    """Read JSON lines from ``stdin``, write one JSON line per input line to ``stdout``."""
    started = time.monotonic()
    stats = Stats()
    lines = normalize_lines(
        stdin, platform, reasons=reasons, chunk_lines=chunk_lines, stats=stats, as_of=as_of
    )
    for obj in lines:
        stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        stdout.write("\n")
    stdout.flush()
    log.info(
        "identity normalize (%s): %d lines in %.1f s, %d with reasons (%s), %d unreadable",
        platform,
        stats.lines,
        time.monotonic() - started,
        stats.with_reasons,
        ", ".join(f"{k} {v}" for k, v in sorted(stats.reasons.items())) or "none",
        stats.unreadable,
    )
    return stats
