"""The file drop's column-at-a-time path gives exactly the row reader's records and rejects."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audience import ingest, warehouse
from audience.sources import files, files_fast

CONTACT_HEADER = "customer_id;email;first_name;last_name;birth_date;updated_at;note"
CONTACT_ROWS = [
    "C1;a@b.example;Élodie;D'Almeida;1990-02-28;2026-10-01T10:00:00Z;plain",
    'C2;b@b.example;Zoë;O"Neil;2000-02-29;2026-10-01 10:00;naive, no seconds',
    "C3;c@b.example;Jean;Dupont;1999-02-29;2026-10-01T10:00:00Z;impossible birth date",
    "C4;d@b.example;Anne;Test;;2026-02-31T10:00:00Z;impossible updated_at",
    "C5;e@b.example;  Luc ;Edge;;2026-10-01T10:00:00.123+02:00;edge whitespace, millis, offset",
    ";f@b.example;No;Id;;;no id at all",
    "  C7 ;g@b.example;Padded;Id;;2026-10-01T10:00:00.123456-05:30;padded id",
    'C8;h@b.example;Back\\slash;Quo""te;;2026-10-01;date only',
    "C9;i@b.example;Emoji 🎉;名前;١٩٩٠-٠١-٠١;2026-10-01T10:00:00+0200;unicode digits, compact offset",
    "C10;j@b.example;Ctl\x01char;Tab\x0bx;;2026-13-01T10:00:00Z;control chars, month 13",
    ";;;;;;",
    'C12;k@b.example;"SQL\');drop table x;--";Bobby;0000-01-01;0000-01-01T00:00:00Z;year zero',
    "C13;l@b.example;Long;" + "x" * 10_000 + ";;2026-10-01T23:59:59Z;10 kB field",
    '"C14";"m@b.example";"Quoted";"Name";"1980-01-01";"2026-10-01T10:00:00Z";"all quoted"',
    "C15;n@b.example;A\u00a0;B\u3000;;2026-10-01T10:00:00Z;unicode edge spaces",
    "C16;o@b.example;Dup;Row;;2026-10-01T10:00:00Z;same id twice",
    "C16;o@b.example;Dup;Row;;2026-10-01T10:00:00Z;same id twice",
    "C17;p@b.example;Leap;Day;2024-02-29;2024-02-29T12:00:00Z;leap day",
    "C18;q@b.example;Bad;Time;;2026-10-01T24:00:00Z;hour 24",
    "",
    "C19;r@b.example;After;Blank;;2026-10-01T10:00:00Z;line after a blank line",
]
ORDER_ROWS = [
    "O1|C1||10.5|EUR|2026-10-01T10:00:00Z",
    "O2|C1||10,5|EUR|2026-10-01T10:00:00Z",
    "O3||x@y.example|1e3|EUR|2026-10-01T10:00:00Z",
    "O4|C1||inf|EUR|2026-10-01T10:00:00Z",
    "O5|C1||nan|EUR|2026-10-01T10:00:00Z",
    "O6|C1|||EUR|2026-10-01T10:00:00Z",
    "O7|||10|EUR|2026-10-01T10:00:00Z",
    "|C1||10|EUR|2026-10-01T10:00:00Z",
    "O9|C1|| 12 |EUR|2026-10-01T10:00:00Z",
    "O10|C1||12|EUR|",
    "O11|C1||1,000.5|EUR|2026-10-01T10:00:00Z",
    "O12|C1||.5|EUR|2026-10-01",
    "O13|C1||-3.|EUR|2026-10-01T10:00:00.5Z",
]


def _parquet_orders(path):
    ts = [0, 1_500, 86_400_000 * 20_000, None, 86_400_000 * 20_000 + 1_000]
    table = pa.table(
        {
            "Order_ID": pa.array(["P1", "P2", "", None, "P5"], pa.large_string()),
            "customer_id": ["C1", None, "C2", "C3", ""],
            "contact_email": [None, "x@y.example", None, None, ""],
            "amount": [90.0, 79.8, float("nan"), 1e16, 1.5e-5],
            "currency": ["EUR", "EUR", "EUR", "EUR", "EUR"],
            "ordered_at": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            "shipped_at": pa.array(ts, pa.timestamp("us")),
            "shipped_on": pa.array([0, 1, 19_000, None, -700_000], pa.date32()),
            "quantity": pa.array([1, 2, None, 4, 5], pa.int64()),
            "gift": [True, False, None, True, False],
            "discount": [0.0, -0.0, 1e15, 0.0001, 12.25],
        }
    )
    pq.write_table(table, path, row_group_size=2)


def _drop(folder):
    folder.mkdir()
    (folder / "contacts_20261101.csv").write_text(
        "\ufeff" + CONTACT_HEADER + "\r\n" + "\r\n".join(CONTACT_ROWS) + "\r\n", encoding="utf-8"
    )
    (folder / "contacts_20261102.csv").write_bytes(
        ("customer_id,first_name,updated_at\nL1,Hélène,2026-10-02T00:00:00Z\nL2,Ærø,bad\n").encode("latin-1")
    )
    (folder / "orders_20261101.csv").write_text(
        "order_id|customer_id|contact_email|amount|currency|ordered_at\n" + "\n".join(ORDER_ROWS) + "\n"
    )
    _parquet_orders(folder / "orders_20261102.parquet")
    return folder


def _state(conn, entity):
    rows = conn.execute(
        f"select _record_id, _updated_at, payload from raw.files__{entity} order by _record_id, payload::text"
    ).fetchall()
    rejects = conn.execute(
        "select reason, payload from raw.rejects where entity = %s order by reason, payload", (entity,)
    ).fetchall()
    files_row = conn.execute(
        "select name, status, rows_loaded, rows_rejected from ops.ingested_files where entity = %s order by name",
        (entity,),
    ).fetchall()
    return rows, rejects, files_row


def _load_both(tmp_path, monkeypatch, drop):
    """Load ``drop`` once column by column and once row by row; the states of both."""
    calls: list[files_fast.FileOutcome] = []
    real = files_fast.copy_file

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out)
        return out

    results = {}
    for mode in ("columns", "rows"):
        with warehouse.connect() as conn:
            conn.execute("drop schema if exists raw cascade")
            conn.execute("drop schema if exists ops cascade")
            conn.commit()
            if mode == "columns":
                monkeypatch.setattr(files_fast, "copy_file", spy)
            else:

                def refuse(*args, **kwargs):
                    raise files_fast.Irregular("forced for the test")

                monkeypatch.setattr(files_fast, "copy_file", refuse)
            settings = files.FilesSettings(drop)
            got = [files.load_contacts(conn, settings=settings), files.load_orders(conn, settings=settings)]
            results[mode] = (
                [(r.rows_loaded, r.rows_rejected, r.reject_reasons) for r in got],
                _state(conn, "contacts"),
                _state(conn, "orders"),
            )
    return results, calls


def test_columns_and_rows_give_the_same_records(fresh_warehouse, tmp_path, monkeypatch):
    drop = _drop(tmp_path / "drop")
    results, calls = _load_both(tmp_path, monkeypatch, drop)
    assert results["columns"] == results["rows"]
    # every file went column by column, and only the awkward rows were handed to the row check
    assert len(calls) == 4
    handed = sum(c.python_rows for c in calls)
    total = sum(c.loaded + c.rejected for c in calls)
    assert 0 < handed < total
    (counts_c, counts_o), contacts, _ = results["columns"][0], results["columns"][1], results["columns"][2]
    assert counts_c[1] > 0 and counts_o[1] > 0  # the corpus has rejects of both kinds
    ids = [r[0] for r in contacts[0]]
    assert "C1" in ids and "C14" in ids and ids.count("C16") == 2


def test_the_world_drop_goes_column_by_column(fresh_warehouse, sandbox_world, tmp_path, monkeypatch):
    drop = tmp_path / "world_drop"
    shutil.copytree(sandbox_world / "crm_drop", drop)
    results, calls = _load_both(tmp_path, monkeypatch, drop)
    assert results["columns"] == results["rows"]
    assert len(calls) == 4 and all(c.rejected == 0 for c in calls)
    # a handful of rows with edge spaces may go to Python; the bulk must not
    assert sum(c.python_rows for c in calls) < 0.05 * sum(c.loaded for c in calls)


@pytest.mark.parametrize(
    "text, why",
    [
        ("a;b\n1;2\n  \n3;4\n", "line of spaces"),
        ("a;b\n1;2;3\n", "too many fields"),
        ('a;b\n"x\ny";2\n', "value over two lines"),
        ("a;a\n1;2\n", "duplicate columns"),
        ("a\n1\n", "single column"),
    ],
)
def test_irregular_files_are_read_row_by_row(fresh_warehouse, tmp_path, text, why):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "contacts_1.csv").write_text(text)
    with pytest.raises(files_fast.Irregular):
        with warehouse.connect() as conn:
            warehouse.ensure_schemas(conn)
            ingest.ensure_raw_table(conn, "files", "contacts")
            files_fast.copy_file(
                conn,
                "raw.files__contacts",
                "contacts",
                folder / "contacts_1.csv",
                True,
                "b",
                files_fast.python_rows("contacts", "contacts_1.csv", "b", csv_rows=True),
                [],
            )
    # and the loader still loads the file, row by row
    with warehouse.connect() as conn:
        res = files.load_contacts(conn, settings=files.FilesSettings(folder))
    assert res.rows_loaded + res.rows_rejected >= 1, why


def test_dates_before_1000_and_nan_go_to_python():
    col = pa.array([0, -400_000], pa.date32())
    _, python = files_fast.json_values(col)
    assert python.tolist() == [False, True]
    values, python = files_fast.json_values(pa.array([1.0, float("nan"), None, 2.5e-5]))
    assert python.tolist() == [False, True, False, True]
    assert values[0].to_pylist()[0] == "1.0" and values[0].to_pylist()[2] == "null"
