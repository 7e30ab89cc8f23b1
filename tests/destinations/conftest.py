"""Fixtures for the destination tests: a scripted Graph stub, the real sandbox, a throwaway database."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from graph_stub import GraphStub, Seen

# --------------------------------------------------------------------------- scripted Graph stub


def _form(raw: bytes, content_type: str) -> dict[str, list[str]]:
    """A request body's fields: url-encoded or multipart (how the SDK sends a users payload)."""
    if not raw:
        return {}
    if not content_type.startswith("multipart/form-data"):
        return parse_qs(raw.decode())
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw, policy=email.policy.HTTP
    )
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields.setdefault(name, []).append(part.get_payload(decode=True).decode())
    return fields


@pytest.fixture()
def graph_stub() -> Iterator[GraphStub]:
    stub = GraphStub()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            seen = Seen(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                form=_form(raw, self.headers.get("Content-Type") or ""),
                request_line_bytes=len(self.requestline.encode()),
                body_bytes=len(raw),
            )
            reply = stub.answer(seen)
            body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            data = body.encode()
            self.send_response(reply.status)
            content_type = "text/html" if isinstance(reply.body, str) else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- real sandbox and database


@pytest.fixture(scope="module")
def graph_world(tmp_path_factory):
    """A tiny synthetic world: its contacts become the audience rows of the sync tests."""
    from sandbox.world import generate

    world = tmp_path_factory.mktemp("world")
    generate(world, contacts=3_000, events_per_contact=0, seed=11)
    return world


@pytest.fixture(scope="module")
def graph_sandbox(graph_world, tmp_path_factory):
    """The sandbox over real HTTP, in its own process, for the whole module."""
    from sandbox.server import start_background

    handle = start_background(graph_world, tmp_path_factory.mktemp("sandbox-state"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def sync_db():
    """A throwaway database on the warehouse server, dropped at the end of the module."""
    import psycopg

    from audience import warehouse

    server = warehouse.params()
    name = f"test_sync_{uuid.uuid4().hex[:10]}"
    admin = server.libpq(dbname="postgres")
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        with psycopg.connect(**server.libpq(dbname=name)) as conn:
            yield conn
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
