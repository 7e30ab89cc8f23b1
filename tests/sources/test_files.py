"""The CRM file drop: CSV (sniffed delimiter, BOM, latin-1) and Parquet, each file loaded once."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from audience import warehouse
from audience.sources import files


@pytest.fixture()
def drop(sandbox_world, tmp_path):
    folder = tmp_path / "drop"
    shutil.copytree(sandbox_world / "crm_drop", folder)
    return folder


def _csv_rows(folder):
    n = 0
    for path in folder.glob("contacts_*.csv"):
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("latin-1")
        delim = ";" if text.split("\n", 1)[0].count(";") else ","
        n += sum(1 for _ in csv.reader(text.splitlines()[1:], delimiter=delim))
    return n


def test_full_load_rerun_and_new_file(fresh_warehouse, drop):
    settings = files.FilesSettings(drop)
    n_contacts = _csv_rows(drop)
    n_orders = sum(pq.ParquetFile(p).metadata.num_rows for p in drop.glob("orders_*.parquet"))
    with warehouse.connect() as conn:
        c = files.load_contacts(conn, settings=settings)
        o = files.load_orders(conn, settings=settings)
        assert (c.rows_loaded, c.rows_rejected) == (n_contacts, 0)
        assert (o.rows_loaded, o.rows_rejected) == (n_orders, 0)
        # latin-1 and BOM files decode to the same accented names; ';' and ',' both split
        names = {r[0] for r in conn.execute("select payload->>'first_name' from raw.files__contacts")}
        assert not any("\ufeff" in (n or "") or "Ã" in (n or "") for n in names)
        keys = conn.execute("select payload from raw.files__contacts limit 1").fetchone()[0]
        assert {"customer_id", "email", "_file", "_line"} <= set(keys)
        ids = [r[0] for r in conn.execute("select _record_id from raw.files__orders")]
        assert len(ids) == len(set(ids)) and all(i.startswith("ORD-") for i in ids)
        # re-run: nothing new, even when a file was only touched
        os.utime(next(drop.glob("orders_*.parquet")), None)
        assert files.load_contacts(conn, settings=settings).rows_loaded == 0
        again = files.load_orders(conn, settings=settings)
        assert again.rows_loaded == 0 and again.rows_skipped == 2
        # a new file is loaded, once
        (drop / "contacts_20261101.csv").write_text(
            "customer_id,email,updated_at\nC1,a@b.example,2026-11-01T00:00:00Z\n"
        )
        assert files.load_contacts(conn, settings=settings).rows_loaded == 1
        assert files.load_contacts(conn, settings=settings).rows_loaded == 0
        assert conn.execute("select count(*) from ops.ingested_files").fetchone()[0] == 5


def test_bad_rows_go_to_rejects_with_their_line(fresh_warehouse, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "orders_20261101.csv").write_text(
        "order_id|customer_id|contact_email|amount|currency|ordered_at\n"
        "O1|C1||10.5|EUR|2026-10-01T10:00:00Z\n"
        "|C1||10|EUR|2026-10-01T10:00:00Z\n"
        "O3|C1||ten|EUR|2026-10-01T10:00:00Z\n"
        "O4|C1||10|EUR|2026-02-31T10:00:00Z\n"
        "O5|C1|10|EUR\n"
        "O6|||10|EUR|2026-10-01T10:00:00Z\n",
        encoding="utf-8",
    )
    (folder / "orders_20261102.parquet").write_bytes(b"PAR1 not really parquet")
    with warehouse.connect() as conn:
        res = files.load_orders(conn, settings=files.FilesSettings(folder))
        rejects = {
            r[0].split(":")[0]: json.loads(r[1])
            for r in conn.execute("select reason, payload from raw.rejects")
        }
        status = dict(conn.execute("select name, status from ops.ingested_files").fetchall())
    assert res.rows_loaded == 1 and res.rows_rejected == 6
    assert set(rejects) == {
        "missing_id",
        "bad_type",
        "bad_timestamp",
        "bad_row",
        "missing_contact",
        "unreadable_file",
    }
    assert rejects["bad_type"]["_line"] == 4 and rejects["bad_row"]["_line"] == 6
    assert status == {"orders_20261101.csv": "loaded", "orders_20261102.parquet": "unreadable"}


def test_settings_from_connection(monkeypatch, tmp_path):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_FILES", json.dumps({"conn_type": "fs", "extra": {"path": f"file://{tmp_path}"}})
    )
    assert files.FilesSettings.resolve().folder == tmp_path
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_FILES", json.dumps({"conn_type": "fs", "extra": {"path": "s3://bucket/x"}})
    )
    with pytest.raises(Exception, match="not supported"):
        files.FilesSettings.resolve()
