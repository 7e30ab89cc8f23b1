from __future__ import annotations

import pytest

from audience import warehouse
from audience.settings import SettingError


def test_parse_uri_and_env():
    p = warehouse.parse_connection("postgresql://bob:s%40cret@db.example:6543/wh?sslmode=require")
    assert (p.host, p.port, p.user, p.password, p.dbname) == ("db.example", 6543, "bob", "s@cret", "wh")
    assert p.options == (("sslmode", "require"),)
    env = p.env()
    assert env["WAREHOUSE_PORT"] == "6543" and env["WAREHOUSE_DBNAME"] == "wh"
    assert "s%40cret" in env["AIRFLOW_CONN_WAREHOUSE"]
    assert "cret" not in p.redacted()


def test_wrong_scheme_is_a_clear_error():
    with pytest.raises(SettingError, match="expected postgresql://"):
        warehouse.parse_connection("mysql://u:p@h/db")


def test_schemas_and_copy_roundtrip(fresh_warehouse):
    with warehouse.connect() as conn:
        warehouse.ensure_schemas(conn)
        names = {r[0] for r in conn.execute("select schema_name from information_schema.schemata")}
        assert set(warehouse.SCHEMAS) <= names
        conn.execute("create table raw.t (a text, b jsonb, c int)")
        rows = [
            ("tab\there", {"k": "new\nline \\ back"}, 1),
            (None, ["é", "😀"], None),
            ("\\N literally", {}, 3),
        ]
        n = warehouse.copy_rows(conn, "raw.t", ("a", "b", "c"), iter(rows), chunk_bytes=10)
        conn.commit()
        assert n == 3
        got = conn.execute("select a, b, c from raw.t order by c nulls last").fetchall()
    assert got == [
        ("tab\there", {"k": "new\nline \\ back"}, 1),
        ("\\N literally", {}, 3),
        (None, ["é", "😀"], None),
    ]


def test_unreachable_warehouse_message_names_the_setting(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://u:topsecret@127.0.0.1:1/x")
    with pytest.raises(warehouse.WarehouseError) as err:
        warehouse.connect()
    assert "AIRFLOW_CONN_WAREHOUSE" in str(err.value)
    assert "topsecret" not in str(err.value)


def test_embedded_server_sorts_by_code_point_and_writes_no_wal_for_new_tables(tmp_path):
    """A new embedded data directory uses PostgreSQL's builtin C.UTF-8 locale: byte-order text
    sorts (the fast path for the event windows and unique tests), Unicode upper/lower kept. And
    the server runs with wal_level minimal: a table created and filled in one transaction (as dbt
    builds its tables) writes its rows without WAL; and with io_method sync (no I/O workers)."""
    import psycopg

    server = warehouse.EmbeddedPostgres(tmp_path / "pgdata", port=warehouse._free_port())
    params = server.params()
    try:
        with psycopg.connect(**params.libpq()) as conn:
            provider, locale = conn.execute(
                "select datlocprovider, datlocale from pg_database where datname = current_database()"
            ).fetchone()
            assert (provider, locale) == ("b", "C.UTF-8")
            row = conn.execute(
                "select upper('élodie straße'), lower('ÉÀ'), 'É' ~ '^[[:alpha:]]$', "
                "array_agg(x order by x) from unnest(array['é', 'b', 'B', 'a', 'Z']) x"
            ).fetchone()
            assert row == ("ÉLODIE STRAßE", "éà", True, ["B", "Z", "a", "b", "é"])
            assert conn.execute("show wal_level").fetchone()[0] == "minimal"
            # a backend reads its own blocks: no I/O worker processes to feed on a small machine
            assert conn.execute("show io_method").fetchone()[0] == "sync"
            workers = conn.execute(
                "select count(*) from pg_stat_activity where backend_type = 'io worker'"
            ).fetchone()[0]
            assert workers == 0
            conn.commit()
            before = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]
            conn.execute(
                "create table built as select g, md5(g::text) as h from generate_series(1, 100000) g"
            )
            conn.commit()
            size = conn.execute("select pg_relation_size('built')").fetchone()[0]
            wal = conn.execute(
                "select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s::pg_lsn)", (before,)
            ).fetchone()[0]
            assert size > 5_000_000
            assert wal < size / 20, f"{wal} bytes of WAL for a {size}-byte table built in its transaction"
    finally:
        server.stop()
