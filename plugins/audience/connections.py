"""Airflow connections, read the same way inside and outside Airflow.

One secret per system, held in an Airflow connection: ``AIRFLOW_CONN_<ID>``
(URI or JSON) in the environment, or Airflow's own store when running inside
Airflow. A source or destination without a connection talks to the sandbox.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from audience.settings import SettingError, local_dir


@dataclass(frozen=True)
class Conn:
    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def base_url(self, default_scheme: str = "https") -> str | None:
        """``host`` as a base URL (a connection may hold a full URL or a bare host name)."""
        if not self.host:
            return None
        host = self.host.rstrip("/")
        if "://" in host:
            return host
        port = f":{self.port}" if self.port else ""
        return f"{default_scheme}://{host}{port}"


def parse(conn_id: str, value: str) -> Conn:
    """Parse an Airflow connection in URI or JSON form."""
    value = value.strip()
    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            raise SettingError(
                f"{env_name} is not valid JSON ({exc.msg}); use a URI or a JSON object"
            ) from None
        extra = data.get("extra") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra) if extra else {}
            except json.JSONDecodeError:
                raise SettingError(f"{env_name}: 'extra' must be a JSON object") from None
        return Conn(
            conn_id=conn_id,
            conn_type=data.get("conn_type", ""),
            host=data.get("host"),
            port=int(data["port"]) if data.get("port") else None,
            login=data.get("login"),
            password=data.get("password"),
            schema=data.get("schema"),
            extra=extra,
        )
    parts = urlsplit(value)
    if not parts.scheme:
        raise SettingError(f"{env_name} must be a URI like type://login:password@host:port/schema or JSON")
    extra: dict[str, Any] = {}
    for key, val in parse_qsl(parts.query, keep_blank_values=True):
        if key == "__extra__":
            extra.update(json.loads(val))
        else:
            extra[key] = val
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    if "%" in netloc_host:
        # Airflow's convention for a host that is a full URL: percent-encoded, e.g. https%3A%2F%2Fapi.example.com
        host, port = unquote(netloc_host), None
    else:
        host = parts.hostname or None
        try:
            port = parts.port
        except ValueError:
            raise SettingError(f"{env_name} has an invalid port") from None
    return Conn(
        conn_id=conn_id,
        conn_type=parts.scheme.replace("-", "_"),
        host=host,
        port=port,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path.lstrip("/")) or None,
        extra=extra,
    )


def get(conn_id: str) -> Conn | None:
    """The connection ``conn_id``, or None when it is defined nowhere."""
    env = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if env:
        return parse(conn_id, env)
    if not os.environ.get("AIRFLOW_HOME"):
        return None
    try:
        from airflow.sdk import BaseHook  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - Airflow is optional for the package
        return None
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - not defined in Airflow's store
        return None
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return Conn(
        conn_id=conn_id,
        conn_type=conn.conn_type or "",
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        extra=dict(extra or {}),
    )


SANDBOX_URL_FILE = "sandbox.url"


def sandbox_url(*, required: bool = True) -> str | None:
    """The local sandbox's base URL: ``AUDIENCE_SANDBOX_URL``, or the one a running sandbox wrote."""
    url = os.environ.get("AUDIENCE_SANDBOX_URL")
    if url:
        return url.rstrip("/")
    path: Path = local_dir() / SANDBOX_URL_FILE
    if path.exists():
        text = path.read_text().strip()
        if text:
            return text.rstrip("/")
    if required:
        raise SettingError(
            "no connection for this service and no sandbox running: define the Airflow connection "
            "(AIRFLOW_CONN_<ID>) for the real service, or start the sandbox with `audience sandbox serve` "
            "(or set AUDIENCE_SANDBOX_URL)"
        )
    return None
