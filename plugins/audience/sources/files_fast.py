"""The CRM file drop, a column at a time: the same records as the row reader of ``files.py``, ~10× faster.

``files.py`` reads a drop file a row at a time (the csv module, Parquet rows as dicts) and checks
each row in Python, about 20 µs a row: a fifth of what a plain COPY of the same rows costs. Here
Arrow reads the file (its CSV reader, or Parquet batches), ``files.py``'s checks are made on whole
columns, and each row's JSON payload and COPY line are built by Arrow's string kernels, while a
background thread keeps a batch ahead of the COPY.

Rows the column checks cannot vouch for go to ``files.py``'s own row check, as the dicts the row
reader would have made: a value with a control character or whitespace at an edge, a timestamp,
date or number outside the plain shapes below, a missing id, an id over 512 characters. Every row
thus becomes the same record (or reject) either way, and ``tests/sources/test_files_fast.py``
compares both paths row for row.

A file whose layout cannot be mapped exactly onto the row reader's line numbers and values (a row
with the wrong number of fields, a blank line, a value over several lines, a multi-line header,
duplicate or single columns, a read error) raises :class:`Irregular` before or while it is copied;
the caller rolls that file back to its savepoint and reads it row by row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from audience.ingest import RAW_COLUMNS, Reject, record_copy_line

CSV_BLOCK = 1 << 20
PARQUET_BATCH = 16_384
MAX_ID_CHARS = 512
_YEAR = r"(?P<y>[1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])"
_DATE = _YEAR + r"-(?P<m>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12]\d|3[01])"
# the plain ISO 8601 shapes fromisoformat() reads the same everywhere; anything else goes to Python
_DATETIME = (
    "^" + _DATE + r"[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{3}|\.\d{6})?)?"
    r"(?P<tz>Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$"
)
_AMOUNT = r"^[+-]?(?:\d{1,100}(?:[.,]\d{0,100})?|[.,]\d{1,100})$"
_UTC_NAMES = {"UTC", "Etc/UTC", "+00:00", "Z"}


class Irregular(Exception):
    """The file must be read row by row (the reason says why)."""


class _PythonBatch(Exception):
    """This batch holds a column type the column checks do not cover: every row goes to Python."""


@dataclass
class FileOutcome:
    loaded: int = 0
    rejected: int = 0
    python_rows: int = 0


def _copy_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json_key(name: str) -> str:
    return _copy_escape(json.dumps(name, ensure_ascii=False))


# ----------------------------------------------------------------------------- readers


def csv_layout(path: Path, utf8: bool) -> tuple[str, list[str]]:
    """The delimiter and lower-cased header of a CSV file, as ``files.read_csv`` sees them."""
    from audience.sources.files import csv_dialect  # noqa: PLC0415

    encoding = "utf-8-sig" if utf8 else "latin-1"
    with open(path, encoding=encoding, newline="") as fh:
        delimiter = csv_dialect(fh)
        reader = csv.reader(fh, delimiter=delimiter, quotechar='"')
        header = next(reader, None)
        if not header:
            raise Irregular("no header")
        if reader.line_num != 1:
            raise Irregular("the header spans several lines")
    columns = [h.strip().lower() for h in header]
    if len(columns) < 2:
        raise Irregular("fewer than two columns: blank lines would read as rows")
    if len(set(columns)) != len(columns):
        raise Irregular("duplicate column names")
    if any(_copy_escape(c) != c or any(ord(ch) < 32 for ch in c) for c in columns):
        raise Irregular("a column name holds a control character")
    return delimiter, columns


def _csv_batches(path: Path, utf8: bool) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """(batch of text columns, line numbers) of a regular CSV file; Irregular otherwise."""
    import pyarrow.csv as pacsv  # noqa: PLC0415

    delimiter, columns = csv_layout(path, utf8)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=columns,
            skip_rows=1,
            encoding="utf8" if utf8 else "latin1",
            block_size=CSV_BLOCK,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    # the header is line 1; a blank line reads as a row of nulls (skipped, as the row reader does),
    # and copy_text refuses a file with a value over several lines: a row's line is its index + 2
    first = 2
    for batch in reader:
        yield batch, np.arange(first, first + batch.num_rows, dtype=np.int64)
        first += batch.num_rows


def _parquet_batches(path: Path) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    import pyarrow.parquet as pq  # noqa: PLC0415

    pf = pq.ParquetFile(path)
    names = [n.lower() for n in pf.schema_arrow.names]
    if len(set(names)) != len(names):
        raise Irregular("duplicate column names")
    first = 1
    for batch in pf.iter_batches(batch_size=PARQUET_BATCH):
        # Arrow's string kernels want one string width: large strings are read as strings
        columns = [pc.cast(c, pa.string()) if pa.types.is_large_string(c.type) else c for c in batch.columns]
        batch = pa.RecordBatch.from_arrays(columns, names=names)
        yield batch, np.arange(first, first + batch.num_rows, dtype=np.int64)
        first += batch.num_rows


# ----------------------------------------------------------------------------- column checks


def _is_text(col: pa.Array) -> bool:
    return pa.types.is_string(col.type) or pa.types.is_large_string(col.type)


def _true(n: int) -> np.ndarray:
    return np.ones(n, dtype=bool)


def _mask(values: pa.Array) -> np.ndarray:
    """A boolean Arrow array as a numpy mask, nulls as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _valid_days(parts: pa.StructArray) -> np.ndarray:
    """Whether each (y, m, d) of an extract_regex result is a real day; False where no match."""
    matched = parts.is_valid().to_numpy(zero_copy_only=False)
    y, m, d = (
        pc.fill_null(pc.cast(pc.struct_field(parts, k), pa.int32()), 1).to_numpy(zero_copy_only=False)
        for k in ("y", "m", "d")
    )
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 1, 12) - 1]
    month_days = month_days + ((m == 2) & leap)
    return matched & (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= month_days)


@dataclass
class _Bytes:
    """A string column's UTF-8 bytes and each value's [start, end) in them (numpy views, no copy)."""

    data: np.ndarray
    start: np.ndarray
    end: np.ndarray
    valid: np.ndarray

    @classmethod
    def of(cls, col: pa.Array) -> _Bytes:
        offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset : col.offset + len(col) + 1]
        raw = col.buffers()[2]
        data = np.frombuffer(raw, dtype=np.uint8) if raw is not None else np.zeros(0, dtype=np.uint8)
        valid = _mask(pc.is_valid(col))
        return cls(data, offsets[:-1].astype(np.int64), offsets[1:].astype(np.int64), valid)

    @property
    def length(self) -> np.ndarray:
        return np.where(self.valid, self.end - self.start, 0)

    def rows_with(self, byte_mask: np.ndarray) -> np.ndarray:
        """Rows holding at least one byte where ``byte_mask`` (over ``data``) is set."""
        rows = np.zeros(len(self.start), dtype=bool)
        where = np.flatnonzero(byte_mask)
        if len(self.end):  # a sliced column's buffer holds bytes of other rows around its own
            where = where[(where >= self.start[0]) & (where < self.end[-1])]
        if where.size:
            rows[np.searchsorted(self.end, where, side="right")] = True
        return rows & self.valid

    def at(self, pos: np.ndarray) -> np.ndarray:
        """The byte at absolute position ``pos`` (0 where it is outside the data)."""
        if not self.data.size:
            return np.zeros(len(pos), dtype=np.uint8)
        inside = (pos >= 0) & (pos < self.data.size)
        return np.where(inside, self.data[np.clip(pos, 0, self.data.size - 1)], 0)

    def edge_space(self) -> np.ndarray:
        """Values that may start or end with what str.strip() removes (it never misses one)."""
        first, last = self.at(self.start), self.at(self.end - 1)
        second_last, third_last = self.at(self.end - 2), self.at(self.end - 3)
        # ASCII space and DEL; the UTF-8 lead bytes of U+0080–U+00BF and U+1000–U+3FFF, among
        # which are NEL, NBSP, U+1680, U+2000–U+200A, U+2028/9, U+202F, U+205F and U+3000
        lead = (first == 0x20) | (first == 0x7F) | (first == 0xC2) | ((first >= 0xE1) & (first <= 0xE3))
        tail = (last == 0x20) | (last == 0x7F)
        tail |= (last >= 0x80) & ((second_last == 0xC2) | ((third_last >= 0xE1) & (third_last <= 0xE3)))
        return self.valid & (self.length > 0) & (lead | tail)

    def fixed(self, rows: np.ndarray, width: int) -> np.ndarray:
        """The ``width`` bytes of each of ``rows`` (all ``width`` long) as an (n, width) matrix."""
        return self.data[self.start[rows][:, None] + np.arange(width)]


def _digits(m: np.ndarray, *cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(all are ASCII digits, their number) of the given columns of a byte matrix."""
    d = m[:, list(cols)].astype(np.int64) - 0x30
    ok = np.all((d >= 0) & (d <= 9), axis=1)
    value = np.zeros(len(m), dtype=np.int64)
    for i in range(len(cols)):
        value = value * 10 + d[:, i]
    return ok, value


def _real_day(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 1, 12) - 1]
    month_days = month_days + ((m == 2) & leap)
    return (y >= 1) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= month_days)


def _iso_day(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shaped YYYY-MM-DD, and a real day) of the first ten bytes of each row of a byte matrix."""
    ok_y, y = _digits(m, 0, 1, 2, 3)
    ok_m, mo = _digits(m, 5, 6)
    ok_d, d = _digits(m, 8, 9)
    shaped = ok_y & ok_m & ok_d & (m[:, 4] == 0x2D) & (m[:, 7] == 0x2D)
    return shaped, shaped & _real_day(y, mo, d)


def _fixed_instants(b: _Bytes, rows: np.ndarray, width: int) -> np.ndarray:
    """Whether each of ``rows`` is ``YYYY-MM-DD[T ]HH:MM:SS`` (19 bytes), then ``Z`` (20) or ``±HH:MM`` (25)."""
    m = b.fixed(rows, width)
    _, ok = _iso_day(m)
    ok_h, hh = _digits(m, 11, 12)
    ok_mi, mi = _digits(m, 14, 15)
    ok_s, ss = _digits(m, 17, 18)
    ok &= ((m[:, 10] == 0x54) | (m[:, 10] == 0x20)) & (m[:, 13] == 0x3A) & (m[:, 16] == 0x3A)
    ok &= ok_h & ok_mi & ok_s & (hh <= 23) & (mi <= 59) & (ss <= 59)
    if width == 20:
        ok &= m[:, 19] == 0x5A
    elif width == 25:
        ok_oh, oh = _digits(m, 20, 21)
        ok_om, om = _digits(m, 23, 24)
        ok &= ((m[:, 19] == 0x2B) | (m[:, 19] == 0x2D)) & (m[:, 22] == 0x3A) & ok_oh & ok_om
        ok &= (oh <= 23) & (om <= 59)
    return ok


def _nonempty(col: pa.Array) -> np.ndarray:
    return _mask(pc.and_(pc.is_valid(col), pc.not_equal(col, "")))


def _quoted(text: pa.Array) -> pa.Array:
    """JSON strings of COPY-safe text (no backslash, quote or control character in it), "null" for nulls."""
    return pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")


def _whole_seconds_in_range(col: pa.Array) -> np.ndarray:
    """Timestamps (or dates) that isoformat() writes as strftime does: whole seconds, years 1000–9999."""
    years = pc.fill_null(pc.year(col), 1000).to_numpy(zero_copy_only=False)
    ok = (years >= 1000) & (years <= 9999)
    if pa.types.is_timestamp(col.type):
        per_s = {"s": 1, "ms": 1_000, "us": 1_000_000}[col.type.unit]
        ticks = pc.fill_null(pc.cast(col, pa.int64()), 0).to_numpy(zero_copy_only=False)
        ok &= ticks % per_s == 0
    return ok


def _timestamp_text(col: pa.Array) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS`` of a timestamp column in seconds, milliseconds or microseconds, UTC or naive."""
    if col.type.unit not in ("s", "ms", "us") or (col.type.tz is not None and col.type.tz not in _UTC_NAMES):
        raise _PythonBatch
    # the wall time in UTC as a naive timestamp: casting that to text is ~20× faster than strftime;
    # years outside 1000–9999 (other widths) go to Python, so the date/time separator is byte 10
    seconds = pc.cast(pc.cast(col, pa.timestamp("s", col.type.tz), safe=False), pa.timestamp("s"))
    return pc.utf8_replace_slice(pc.cast(seconds, pa.string()), start=10, stop=11, replacement="T")


def json_values(col: pa.Array) -> tuple[list[Any], np.ndarray]:
    """Each value as the COPY-escaped JSON that ``json.dumps`` gives the row reader's value, as pieces
    to join (literals and arrays), and a mask of the rows whose value must be written by Python (the
    JSON there is a placeholder)."""
    n = len(col)
    if _is_text(col):
        b = _Bytes.of(col)
        python = b.rows_with(b.data < 0x20) | b.edge_space()
        # a backslash is \\ in JSON and each of those is doubled for COPY; a quote is \" in JSON
        text = col
        if (b.data == 0x5C).any():
            text = pc.replace_substring(text, "\\", "\\\\\\\\")
        if (b.data == 0x22).any():
            text = pc.replace_substring(text, '"', '\\\\"')
        return ([_quoted(text)] if col.null_count else ['"', text, '"']), python
    if pa.types.is_float64(col.type):
        values = pc.fill_null(col, 0.0).to_numpy(zero_copy_only=False)
        size = np.abs(values)
        text = pc.cast(col, pa.string())
        b = _Bytes.of(text)
        plain = ~b.rows_with(~np.isin(b.data, np.frombuffer(b"0123456789-.", dtype=np.uint8)))
        # repr() switches to an exponent below 1e-4 and from 1e16 on; NaN and infinities are not JSON
        fits = np.isfinite(values) & ((values == 0) | ((size >= 1e-4) & (size < 1e16)))
        python = _mask(pc.is_valid(col)) & ~(plain & fits)
        point = b.rows_with(b.data == 0x2E)
        with_point = pc.if_else(pa.array(point), text, pc.binary_join_element_wise(text, ".0", ""))
        return [pc.fill_null(with_point, "null")], python
    if pa.types.is_integer(col.type):
        return [pc.fill_null(pc.cast(col, pa.string()), "null")], np.zeros(n, dtype=bool)
    if pa.types.is_boolean(col.type):
        return [pc.fill_null(pc.if_else(col, "true", "false"), "null")], np.zeros(n, dtype=bool)
    if pa.types.is_timestamp(col.type):
        text = _timestamp_text(col)
        if col.type.tz is not None:
            text = pc.binary_join_element_wise(text, "+00:00", "")
        return [_quoted(text)], _mask(pc.is_valid(col)) & ~_whole_seconds_in_range(col)
    if pa.types.is_date32(col.type):
        text = pc.strftime(col, format="%Y-%m-%d")
        return [_quoted(text)], _mask(pc.is_valid(col)) & ~_whole_seconds_in_range(col)
    raise _PythonBatch


def instants(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(text for ``_updated_at``, plain) of a timestamp column: plain where the value reads the same in
    Python and PostgreSQL (nulls are not plain: the caller decides what a null means)."""
    if _is_text(col):
        b = _Bytes.of(col)
        n = len(col)
        plain, naive = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        lengths = b.length
        for width in (19, 20, 25):  # the usual shapes, checked byte by byte
            rows = np.flatnonzero(b.valid & (lengths == width))
            if rows.size:
                plain[rows] = _fixed_instants(b, rows, width)
                naive[rows] = width == 19
        rest = np.flatnonzero(b.valid & ~np.isin(lengths, (19, 20, 25)))
        if rest.size:  # other plain shapes (no seconds, fractions): the regex, on these rows only
            parts = pc.extract_regex(col.take(pa.array(rest)), _DATETIME)
            plain[rest] = _valid_days(parts)
            naive[rest] = _mask(pc.is_null(pc.struct_field(parts, "tz")))
        text = pc.if_else(pa.array(naive), pc.binary_join_element_wise(col, "+00:00", ""), col)
        return text, plain
    if pa.types.is_timestamp(col.type):
        text = pc.binary_join_element_wise(_timestamp_text(col), "+00:00", "")
        return text, _mask(pc.is_valid(col)) & _whole_seconds_in_range(col)
    raise _PythonBatch


def _text_column(batch: pa.RecordBatch, name: str) -> pa.Array | None:
    if name not in batch.schema.names:
        return None
    col = batch.column(name)
    if not _is_text(col):
        raise _PythonBatch
    return col


def _nullify_empty(col: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)


def check_contacts(batch: pa.RecordBatch, fallback_ids: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """(record id, ``_updated_at`` text, rows for Python) of contacts, as ``files._check_contact`` decides."""
    from audience.sources.files import ID_COLUMNS  # noqa: PLC0415

    n = batch.num_rows
    python = np.zeros(n, dtype=bool)
    ids = [
        _nullify_empty(c) for c in (_text_column(batch, k) for k in ID_COLUMNS["contacts"]) if c is not None
    ]
    rid = pc.coalesce(*ids, fallback_ids) if ids else fallback_ids
    updated: pa.Array = pa.nulls(n, pa.string())
    if "updated_at" in batch.schema.names:
        col = batch.column("updated_at")
        updated, plain = instants(col)
        python |= _mask(pc.is_valid(col)) & ~plain
        updated = pc.if_else(pc.is_valid(col), updated, pa.scalar(None, pa.string()))
    birth = batch.column("birth_date") if "birth_date" in batch.schema.names else None
    if birth is not None and _is_text(birth):
        # the row check reads a YYYY-MM-DD birth date (Unicode digits too): non-ASCII values go to Python
        b = _Bytes.of(birth)
        python |= b.rows_with(b.data >= 0x80)
        rows = np.flatnonzero(b.valid & (b.length == 10))
        if rows.size:
            shaped, real = _iso_day(b.fixed(rows, 10))
            python[rows[shaped & ~real]] = True
    python |= _Bytes.of(rid).length > MAX_ID_CHARS  # bytes ≥ characters: a long one goes to Python
    return rid, updated, python


def check_orders(batch: pa.RecordBatch, fallback_ids: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """(record id, ``_updated_at`` text, rows for Python) of orders, as ``files._check_order`` decides."""
    names = batch.schema.names
    if "order_id" not in names or "ordered_at" not in names or "amount" not in names:
        raise _PythonBatch  # every row is a reject: Python says which
    order_id = _text_column(batch, "order_id")
    python = ~_nonempty(order_id)
    python |= _Bytes.of(order_id).length > MAX_ID_CHARS
    amount = batch.column("amount")
    if _is_text(amount):
        python |= ~_mask(pc.match_substring_regex(amount, _AMOUNT))
    elif pa.types.is_floating(amount.type):
        python |= ~np.isfinite(pc.fill_null(pc.cast(amount, pa.float64()), np.nan).to_numpy(False))
    elif pa.types.is_integer(amount.type):
        python |= ~_mask(pc.is_valid(amount))
    else:
        raise _PythonBatch
    has_contact = np.zeros(batch.num_rows, dtype=bool)
    for name in ("customer_id", "contact_email"):
        col = _text_column(batch, name)
        if col is not None:
            has_contact |= _nonempty(col)
    python |= ~has_contact
    ordered, plain = instants(batch.column("ordered_at"))
    python |= ~plain
    return pc.fill_null(order_id, ""), ordered, python


CHECKS: dict[str, Callable[[pa.RecordBatch, pa.Array], tuple[pa.Array, pa.Array, np.ndarray]]] = {
    "contacts": check_contacts,
    "orders": check_orders,
}


# ----------------------------------------------------------------------------- COPY text


def _text_bytes(arr: pa.Array) -> bytes:
    """The concatenated values of a string array without nulls."""
    if len(arr) == 0:
        return b""
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    return memoryview(arr.buffers()[2])[int(offsets[0]) : int(offsets[-1])].tobytes()


def copy_text(
    entity: str,
    file_name: str,
    batch: pa.RecordBatch,
    lines: np.ndarray,
    batch_id: str,
    *,
    csv_rows: bool,
    python_row: Callable[[dict[str, Any], int], str | Reject | None],
    outcome: FileOutcome,
    rejects: list[Reject],
) -> bytes:
    """One batch as raw-table COPY text: the plain rows built here, the others by ``python_row``."""
    n = batch.num_rows
    if csv_rows and any(np.isin(_Bytes.of(c).data, (0x0A, 0x0D)).any() for c in batch.columns):
        # a quoted value over several lines: the rows after it are on later lines than their index says
        raise Irregular("a value spans several lines")
    line_text = pc.cast(pa.array(lines), pa.string())
    fallback = pc.binary_join_element_wise(file_name, line_text, ":")
    try:
        rid, updated, python = CHECKS[entity](batch, fallback)
        if (_Bytes.of(rid).data == 0x5C).any():
            rid = pc.replace_substring(rid, "\\", "\\\\")
        # the whole COPY line in one join: batch id, load time, id, updated at, the JSON payload
        pieces: list[Any] = [f"{batch_id}\tnow\t", rid, "\t", pc.fill_null(updated, "\\N")]
        pieces += ['\t{"_file":' + _json_key(file_name) + ',"_line":', line_text]
        for i, name in enumerate(batch.schema.names):
            values, needs = json_values(batch.column(i))
            python |= needs
            pieces += ["," + _json_key(name) + ":", *values]
        pieces.append("}\n")
    except _PythonBatch:
        python = np.ones(n, dtype=bool)
    skip = np.zeros(n, dtype=bool)
    if csv_rows:
        # the row reader skips a row whose fields are all empty
        skip = np.logical_and.reduce([_mask(pc.is_null(batch.column(i))) for i in range(batch.num_columns)])
    python &= ~skip
    fast = ~python & ~skip
    out = b""
    if fast.any():
        merged: list[Any] = []
        for piece in pieces:  # adjacent literals as one
            if isinstance(piece, str) and merged and isinstance(merged[-1], str):
                merged[-1] += piece
            else:
                merged.append(piece)
        rows = pc.binary_join_element_wise(*merged, "")
        out = _text_bytes(rows if fast.all() else pc.filter(rows, pa.array(fast)))
        outcome.loaded += int(fast.sum())
    if python.any():
        slow = []
        chosen = np.flatnonzero(python)
        for line, row in zip(lines[chosen].tolist(), batch.take(pa.array(chosen)).to_pylist(), strict=True):
            text = python_row(row, line)
            outcome.python_rows += 1
            if isinstance(text, Reject):
                rejects.append(text)
                outcome.rejected += 1
            elif text is not None:
                slow.append(text)
                outcome.loaded += 1
        out += "".join(slow).encode()
    return out


def copy_file(
    conn: psycopg.Connection,
    table: str,
    entity: str,
    path: Path,
    utf8: bool,
    batch_id: str,
    python_row: Callable[[dict[str, Any], int], str | Reject | None],
    rejects: list[Reject],
) -> FileOutcome:
    """COPY one drop file into ``table``; Irregular when it must be read row by row (nothing of it is
    then in the table once the caller's savepoint is rolled back)."""
    from audience.sources.web_events import _Prefetch  # noqa: PLC0415

    is_csv = path.suffix.lower() == ".csv"
    outcome = FileOutcome()

    def batches() -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
        source = _csv_batches(path, utf8) if is_csv else _parquet_batches(path)
        while True:
            try:
                item = next(source)
            except StopIteration:
                return
            except (pa.ArrowException, ValueError, OSError, UnicodeDecodeError, csv.Error) as exc:
                raise Irregular(f"{type(exc).__name__}: the reader stopped") from None
            yield item

    def chunks() -> Iterator[bytes]:
        for batch, lines in batches():
            yield copy_text(
                entity,
                path.name,
                batch,
                lines,
                batch_id,
                csv_rows=is_csv,
                python_row=python_row,
                outcome=outcome,
                rejects=rejects,
            )

    cols = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
    ahead = _Prefetch(chunks(), depth=4)
    try:
        with conn.cursor() as cur, cur.copy(f"copy {table} ({cols}) from stdin") as cp:
            for chunk in ahead:
                if chunk:
                    cp.write(chunk)
    finally:
        ahead.close()
    return outcome


def python_rows(
    entity: str, file_name: str, batch_id: str, *, csv_rows: bool
) -> Callable[[dict[str, Any], int], str | Reject | None]:
    """The row reader's check for one row handed back by the column checks: a COPY line, a reject,
    or None for a CSV row whose fields are all blank (the row reader skips it)."""
    from audience.sources.files import _item, parquet_value  # noqa: PLC0415

    def one(row: dict[str, Any], line: int) -> str | Reject | None:
        if csv_rows:
            if all(v is None or not v.strip() for v in row.values()):
                return None
        else:
            row = {k: parquet_value(v) for k, v in row.items()}
        item = _item(entity, file_name, line, row)
        if isinstance(item, Reject):
            return item
        return record_copy_line(batch_id, item)

    return one
