"""The production shape: docker-compose.yaml, the Dockerfile, .dockerignore.

Without Docker the files are read as YAML and text: the services of Airflow's official shape, one
shared ``x-airflow-common`` block, health checks and start order, CeleryExecutor, no example DAGs,
an image built from requirements.txt. Where the ``docker compose`` client is installed, it validates
the file too (no engine is needed for ``config``).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from audience.settings import project_root

ROOT = project_root()
COMPOSE = ROOT / "docker-compose.yaml"

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
# the long-running Airflow components (airflow-init runs once, airflow-cli on demand)
LONG_RUNNING = AIRFLOW_SERVICES - {"airflow-init"}
BACKING = {"redis", "airflow-db", "warehouse", "sandbox"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def test_services_of_airflows_shape(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES | BACKING <= set(services)
    assert _command(services["airflow-apiserver"]) == "api-server"
    assert _command(services["airflow-scheduler"]) == "scheduler"
    assert _command(services["airflow-dag-processor"]) == "dag-processor"
    assert _command(services["airflow-triggerer"]) == "triggerer"
    assert _command(services["airflow-worker"]) == "celery worker"
    assert "airflow db migrate" in _command(services["airflow-init"])
    assert services["redis"]["image"].startswith("redis:")
    assert services["airflow-db"]["image"].startswith("postgres:")
    # the warehouse needs pgvector (ml.author_embeddings)
    assert "pgvector" in services["warehouse"]["image"]
    assert "sandbox serve" in " ".join(services["sandbox"]["entrypoint"])


def _mapping_value(node: yaml.MappingNode, key: str):
    for k, v in node.value:
        if k.value == key:
            return v
    raise KeyError(key)


def test_airflow_services_share_one_common_block():
    """Every Airflow service merges the very node anchored as ``x-airflow-common`` (not a copy)."""
    text = COMPOSE.read_text()
    assert re.search(r"^x-airflow-common: &airflow-common$", text, re.M)
    assert re.search(r"^  environment: &airflow-common-env$", text, re.M)
    root = yaml.compose(text)
    common = _mapping_value(root, "x-airflow-common")
    services = _mapping_value(root, "services")
    for name in AIRFLOW_SERVICES | {"sandbox"}:
        node = _mapping_value(services, name)
        merged = [v for k, v in node.value if k.tag == "tag:yaml.org,2002:merge"]
        assert merged and merged[0] is common, f"{name} does not merge *airflow-common"
    # and the overridden environments extend the common one (worker, cli)
    env = _mapping_value(common, "environment")
    for name in ("airflow-worker",):
        node = _mapping_value(_mapping_value(services, name), "environment")
        merged = [v for k, v in node.value if k.tag == "tag:yaml.org,2002:merge"]
        assert merged and merged[0] is env, name


def test_executor_examples_and_connections(compose):
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert (
        env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        and "@redis:" in env["AIRFLOW__CELERY__BROKER_URL"]
    )
    assert "@airflow-db:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "audience.celery_config.CELERY_CONFIG"
    # workers reach the task API on the api-server service
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    assert "@warehouse:5432/" in env["AIRFLOW_CONN_WAREHOUSE"]
    # the Celery config the compose file names is importable and keeps the provider's defaults
    from audience import celery_config  # noqa: PLC0415

    assert celery_config.CELERY_CONFIG["broker_url"]
    assert celery_config.CELERY_CONFIG["worker_prefetch_multiplier"] == 1


def test_every_service_merged_settings(compose):
    services = compose["services"]
    common_env = compose["x-airflow-common"]["environment"]
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["build"] == "." and service["image"] == compose["x-airflow-common"]["image"], name
        assert common_env.items() <= service["environment"].items(), name


def test_healthchecks_and_start_order(compose):
    services = compose["services"]
    for name in LONG_RUNNING | BACKING:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        for backing in BACKING:
            assert deps[backing]["condition"] == "service_healthy", (name, backing)
    for name in LONG_RUNNING:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    # a worker only takes tasks once the task API answers
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    # the scheduler's health endpoint needs its health-check server
    assert compose["x-airflow-common"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert "8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])


def test_image_built_from_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+apache/airflow:(\S+)-python(\S+)$", dockerfile, re.M)
    assert base, "the image builds on Airflow's official image"
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and pinned.group(1) == base.group(1), "the lock and the base image name one Airflow"
    assert re.search(r"^COPY\b.*\brequirements\.txt\b", dockerfile, re.M)
    assert re.search(r"^RUN pip install .*-r \S*requirements\.txt", dockerfile, re.M)
    assert "audience dbt-parse" in dockerfile  # the manifest the DAG renders from is in the image
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".local", ".git", ".env"} <= set(ignored)


def test_celery_pinned_below_the_release_the_provider_breaks_on():
    lock = (ROOT / "requirements.txt").read_text()
    version = re.search(r"^celery==(\d+)\.(\d+)", lock, re.M)
    assert version and (int(version.group(1)), int(version.group(2))) < (5, 7)


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_validates():
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose client here (neither the `docker compose` plugin nor docker-compose)")
    proc = subprocess.run(
        [*client, "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    services = subprocess.run(
        [*client, "-f", str(COMPOSE), "--profile", "debug", "config", "--services"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert services.returncode == 0, services.stderr[-2000:]
    assert AIRFLOW_SERVICES | BACKING | {"airflow-cli"} <= set(services.stdout.split())
