"""Audiences declared in YAML (``audiences/*.yml``), checked and compiled into dbt models.

:mod:`.attributes` lists what rules may test, :mod:`.catalogue` loads and checks the files,
:mod:`.compiler` writes the dbt models, :mod:`.commands` is ``audience audiences compile|check|list``.
"""

from __future__ import annotations

from pathlib import Path

from audience.settings import project_root


def catalogue_dir() -> Path:
    """The audience catalogue: ``audiences/`` at the checkout's top."""
    return project_root() / "audiences"


def dbt_project_dir() -> Path:
    return project_root() / "dbt_project"
