"""Where the project lives on disk and the few settings read from the environment.

Every setting has a default that works on a fresh clone; environment variables
override them. A bad value fails here, early, with a message naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path


class SettingError(ValueError):
    """A setting (environment variable or configuration value) is wrong."""


def project_root() -> Path:
    """The checkout's top folder (holds dags/, dbt_project/, plugins/)."""
    env = os.environ.get("AUDIENCE_HOME")
    if env:
        root = Path(env).expanduser().resolve()
        if not (root / "dbt_project").is_dir():
            raise SettingError(
                f"AUDIENCE_HOME={env!r} does not hold a dbt_project/ folder; "
                "point it at the platform's checkout or unset it"
            )
        return root
    # plugins/audience/settings.py -> checkout root
    return Path(__file__).resolve().parents[2]


def local_dir() -> Path:
    """Runtime state of the embedded default (warehouse data, Airflow home, world)."""
    env = os.environ.get("AUDIENCE_LOCAL_DIR")
    path = Path(env).expanduser().resolve() if env else project_root() / ".local"
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer setting from the environment, checked."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(
            f"{name}={raw!r} is not an integer; set it to a whole number or unset it"
        ) from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}={value} is above the maximum {maximum}")
    return value


def env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name}={raw!r} is not a boolean; use true or false")
