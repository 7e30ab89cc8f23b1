"""The dbt project: where it is, how to run it, and how Cosmos renders it in Airflow.

The DAG renders the project from ``target/manifest.json`` (``dbt parse`` writes
it; no database is touched at DAG parse time). Each model, seed and snapshot
becomes one task running ``dbt build`` on that node, through dbt's in-process
runner, with the profile built by Cosmos from the Airflow connection
``warehouse``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from audience.settings import project_root

log = logging.getLogger(__name__)


def project_dir() -> Path:
    return project_root() / "dbt_project"


def manifest_path() -> Path:
    return project_dir() / "target" / "manifest.json"


def dbt_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a dbt run against the current warehouse (what profiles.yml reads)."""
    from audience import warehouse  # noqa: PLC0415

    env = dict(warehouse.params().env())
    env.update(extra or {})
    return env


def run(args: list[str], *, env: dict[str, str] | None = None, quiet: bool = True) -> Any:
    """Run a dbt command in-process (dbtRunner) against the warehouse; raise on failure."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415

    pdir = str(project_dir())
    saved = {k: os.environ.get(k) for k in (env or dbt_env())}
    os.environ.update(env or dbt_env())
    try:
        flags = ["--quiet"] if quiet else []
        cli = [*args[:1], *flags, *args[1:], "--project-dir", pdir, "--profiles-dir", pdir]
        result = dbtRunner().invoke(cli)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if not result.success:
        detail = ""
        if result.exception is not None:
            detail = f": {result.exception}"
        elif result.result is not None and hasattr(result.result, "results"):
            failed = [r.node.unique_id for r in result.result.results if str(r.status) in {"error", "fail"}]
            detail = f": failed nodes {failed}"
        raise RuntimeError(f"dbt {' '.join(args)} failed{detail}")
    return result


def ensure_manifest() -> Path:
    """Write target/manifest.json with ``dbt parse`` when missing or older than the project files."""
    path = manifest_path()
    newest = max(
        (
            p.stat().st_mtime
            for p in project_dir().rglob("*")
            if p.suffix in {".sql", ".yml", ".yaml", ".csv"}
            and "target" not in p.parts
            and "logs" not in p.parts
        ),
        default=0,
    )
    if path.exists() and path.stat().st_mtime >= newest:
        return path
    # parse needs a profile but no connection: the values are only rendered
    env = {
        "WAREHOUSE_HOST": os.environ.get("WAREHOUSE_HOST", "127.0.0.1"),
        "WAREHOUSE_PORT": os.environ.get("WAREHOUSE_PORT", "54329"),
        "WAREHOUSE_USER": os.environ.get("WAREHOUSE_USER", "postgres"),
        "WAREHOUSE_PASSWORD": os.environ.get("WAREHOUSE_PASSWORD", "postgres"),
        "WAREHOUSE_DBNAME": os.environ.get("WAREHOUSE_DBNAME", "audience"),
    }
    run(["parse"], env=env)
    log.info("dbt manifest written to %s", path)
    return path


def dbt_task_group(group_id: str = "dbt", **kwargs: Any):
    """The dbt project as an Airflow task group (Cosmos)."""
    # Cosmos warns at import that the OpenLineage provider is absent: not our concern, keep parse quiet
    logging.getLogger("cosmos").setLevel(logging.ERROR)
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig  # noqa: PLC0415
    from cosmos.constants import (  # noqa: PLC0415
        ExecutionMode,
        InvocationMode,
        LoadMode,
        TestBehavior,
        TestIndirectSelection,
    )
    from cosmos.profiles import PostgresUserPasswordProfileMapping  # noqa: PLC0415

    manifest = manifest_path()
    if manifest.exists():
        project = ProjectConfig(
            dbt_project_path=project_dir(), manifest_path=manifest, install_dbt_deps=False
        )
        load_method = LoadMode.DBT_MANIFEST
    else:
        # no manifest yet (fresh checkout): Cosmos reads the project files itself
        log.warning(
            "dbt manifest missing (%s); run `make dbt-parse`. Rendering from the project files.", manifest
        )
        project = ProjectConfig(dbt_project_path=project_dir(), install_dbt_deps=False)
        load_method = LoadMode.CUSTOM
    profile = ProfileConfig(
        profile_name="audience",
        target_name="airflow",
        profile_mapping=PostgresUserPasswordProfileMapping(
            conn_id="warehouse", profile_args={"schema": "staging", "threads": 2}
        ),
    )
    return DbtTaskGroup(
        group_id=group_id,
        project_config=project,
        profile_config=profile,
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
            # a test runs with the node whose build makes all its parents available (e.g. a
            # relationships test from persons to the country seed runs with persons, not the seed)
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        render_config=RenderConfig(
            load_method=load_method,
            test_behavior=TestBehavior.BUILD,
            dbt_deps=False,
            enable_mock_profile=False,
            # the DAGs chain through the platform's own assets (audience.assets); per-model assets
            # named after the warehouse host would change with the connection
            emit_datasets=False,
        ),
        operator_args={"install_deps": False, "quiet": True},
        **kwargs,
    )
