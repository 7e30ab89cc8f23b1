"""The steps the DAGs run, as plain functions (DAG files only wire them).

Each returns a small JSON-able summary (counts, ids, verdicts; never PII),
which becomes the task's XCom.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from audience.settings import SettingError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the warehouse connection broke (server restarted, stopped, network)."""
    import psycopg  # noqa: PLC0415

    if isinstance(exc, psycopg.OperationalError):
        # no SQLSTATE: the client saw the socket close; class 08: connection exception; 57P01-03:
        # the server is shutting down or restarting (not timeouts, deadlocks or serialisation failures)
        code = getattr(exc, "sqlstate", None)
        return code is None or code.startswith("08") or code in {"57P01", "57P02", "57P03"}
    return isinstance(exc, psycopg.InterfaceError) and "connection" in str(exc).lower()


def warehouse_task(what: str) -> Callable[[F], F]:
    """A task step whose lost warehouse connection becomes one clear ``WarehouseError``.

    ``what`` names the step in the message; ``{0}``, ``{1}`` are its first arguments.
    The server's own message is not repeated (it may quote data); only its SQLSTATE and class. A
    step never commits half its work (rows, watermarks and ledgers move in one transaction), so the
    task's retry starts it again safely.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            from audience.warehouse import WarehouseError  # noqa: PLC0415

            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not _connection_lost(exc):
                    raise
                try:
                    label = what.format(*args, **kwargs)
                except (IndexError, KeyError):
                    label = what.split(" {", 1)[0]
                code = getattr(exc, "sqlstate", None)
                kind = type(exc).__name__ + (f", SQLSTATE {code}" if code else "")
                raise WarehouseError(
                    f"{label}: the warehouse connection was lost mid-run ({kind}): the server restarted, "
                    "stopped or became unreachable. Nothing of the unfinished step was committed; the "
                    "task's retry runs it again. If retries fail too, check that the warehouse is up "
                    "(`audience warehouse start` for the embedded one, or AIRFLOW_CONN_WAREHOUSE)."
                ) from None

        return run  # type: ignore[return-value]

    return decorate


# the audiences and destinations the sync knows; grows with the audience catalogue
DESTINATIONS = ("facebook", "linkedin")


@warehouse_task("ingest {0}")
def ingest(task_id: str, *, full_refresh: bool = False, since: str | None = None) -> dict[str, Any]:
    """Load one feed of the catalogue (``audience.sources.catalog``) into its raw table."""
    from audience.sources.catalog import by_task_id  # noqa: PLC0415
    from audience.warehouse import connect  # noqa: PLC0415

    loader = by_task_id(task_id).loader()
    with connect() as conn:
        result = loader(conn, full_refresh=full_refresh, since=since or None)
    return result.summary()


def as_of_date() -> date | None:
    """ "Today" for models: ``AUDIENCE_AS_OF_DATE`` ('YYYY-MM-DD') when set (the demo pins the world's date)."""
    value = os.environ.get("AUDIENCE_AS_OF_DATE", "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SettingError(f"AUDIENCE_AS_OF_DATE must be a date written YYYY-MM-DD, got {value!r}") from None


def _unless_unchanged(stage: str, force: bool, work: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work(conn)`` unless the step's inputs are those of its last success (``audience.freshness``);
    record the success with the fingerprint taken before it ran."""
    from audience import freshness  # noqa: PLC0415
    from audience.warehouse import connect  # noqa: PLC0415

    with connect() as conn:
        current = freshness.state(conn, stage)
        if not current.changed and not force:
            log.info("%s; not rerun (force=True reruns it)", current.reason())
            return {"skipped": "inputs unchanged", "since_stage_run": current.previous["stage_run_id"]}
        log.info("running %s", current.reason())
        summary = work(conn)
        freshness.record(conn, current, summary)
    return summary


@warehouse_task("psychographic models")
def psychographic_profiles(*, force: bool = False) -> dict[str, Any]:
    """Comments → embeddings → interest clusters, into ``ml`` (read by dbt as a source).

    Skipped when the comments and the model code are those of its last successful run."""
    from audience.ml import psychographic  # noqa: PLC0415

    return _unless_unchanged("psychographic", force, psychographic.run)


@warehouse_task("propensity model")
def purchase_propensity(*, force: bool = False) -> dict[str, Any]:
    """Train the purchase-propensity model on history, record its held-out AUC, score everyone.

    Skipped when its raw inputs, the model code and the as-of date are those of its last success."""
    from audience.ml import propensity  # noqa: PLC0415

    return _unless_unchanged("propensity", force, lambda conn: propensity.run(conn, as_of=as_of_date()))


@warehouse_task("input check")
def segments_changed(*, force: bool = False, fail_on_failed_gate: bool = True) -> dict[str, Any] | None:
    """The segments' inputs (``audience.freshness``) when they changed since the last build the
    quality gate judged, or when ``force``; None when nothing changed: the build is then skipped.

    When the gate failed on these very inputs, rebuilding would only repeat its verdict: the check
    fails at once, naming the run (``fail_on_failed_gate=False`` returns None instead)."""
    from audience import freshness  # noqa: PLC0415
    from audience.warehouse import connect  # noqa: PLC0415

    with connect() as conn:
        current = freshness.state(conn, "segments")
    if current.changed or force:
        log.info("building: %s", current.reason())
        return {**current.xcom(), "reason": current.reason() + (" (forced)" if force else "")}
    previous = current.previous or {}
    verdict = previous.get("summary") or {}
    if verdict.get("gate_passed") is False and fail_on_failed_gate:
        failing = ", ".join(f"{c.get('table')}.{c.get('check')}" for c in verdict.get("failed_checks") or [])
        raise _fail_without_retry(
            f"the quality gate failed on these same inputs (stage run {previous.get('stage_run_id')} at "
            f"{previous.get('finished_at')}; failing checks: {failing or 'see its run report'}); "
            "nothing was rebuilt. Fix the data or the expectations (a change of either rebuilds), or "
            "trigger build_segments with force=true."
        )
    log.info("%s; dbt build, quality gate and report skipped (force=True rebuilds)", current.reason())
    return None


def _fail_without_retry(message: str) -> Exception:
    """An error that fails the Airflow task without retries (a plain RuntimeError outside Airflow)."""
    try:
        from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415
    except ImportError:
        return RuntimeError(message)
    return AirflowFailException(message)


_NO_RETRY_CLASS = "QualityGateFailedNoRetry"


def __getattr__(name: str) -> Any:
    """``QualityGateFailedNoRetry``, made on first use (it needs Airflow, which this module does not
    import at load time); reachable by name, so the exception pickles."""
    if name != _NO_RETRY_CLASS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

    from audience.quality.checks import QualityGateFailed  # noqa: PLC0415

    cls = type(
        _NO_RETRY_CLASS,
        (QualityGateFailed, AirflowFailException),
        {"__module__": __name__, "__doc__": "A failed quality gate; Airflow fails the task without retries."},
    )
    globals()[_NO_RETRY_CLASS] = cls
    return cls


def _gate_failure_without_retry(exc: Exception) -> Exception:
    """``exc`` (a QualityGateFailed) as an exception that also fails the Airflow task at once:
    the data will not change between retries, so retrying only repeats the verdict."""
    try:
        cls = __getattr__(_NO_RETRY_CLASS)
    except ImportError:  # outside Airflow: the gate's own exception
        return exc
    return cls(exc.result, str(exc))  # type: ignore[attr-defined]


@warehouse_task("quality gate")
def validate_segments(run_id: str | None = None, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the quality gate (the GX suites of ``expectations/``, each table's row count against the
    previous passing run, and the statistical checks of ``audience.quality.stats`` when present).

    Returns the gate's summary (the XCom). A failed critical check raises ``QualityGateFailed``
    (an ``AirflowFailException`` too: the task fails without retries and emits no asset, so the
    sync does not run); its message names each failing check, its table and the failing ids or
    counts. ``run_id`` (the Airflow run's) makes a re-run replace its own rows in ops.validation_runs.
    ``inputs`` (what ``segments_changed`` returned before the build) is recorded with the verdict,
    so that a later run with the same inputs skips the build (or, after a failure, fails at once).
    """
    from audience.quality.gx import QualityGateFailed, run_gate  # noqa: PLC0415

    try:
        summary = run_gate(run_id=run_id).summary()
    except QualityGateFailed as exc:
        _record_verdict(inputs, {**exc.result.summary(), "gate_passed": False})  # type: ignore[attr-defined]
        raise _gate_failure_without_retry(exc) from None
    _record_verdict(inputs, {**summary, "gate_passed": True})
    return summary


def _record_verdict(inputs: dict[str, Any] | None, summary: dict[str, Any]) -> None:
    """The gate judged a build of ``inputs``: the same inputs later skip the build (``segments_changed``)."""
    if not inputs:
        return
    from audience import freshness  # noqa: PLC0415
    from audience.warehouse import connect  # noqa: PLC0415

    with connect() as conn:
        freshness.record(conn, inputs, summary)


@warehouse_task("run report")
def run_report(run_id: str | None = None) -> dict[str, Any]:
    """Write the run's static HTML report (and ``latest.html``); returns its path."""
    from audience.quality.report import write_warehouse_report  # noqa: PLC0415

    path = write_warehouse_report(run_id)
    return {"report": str(path)}


@warehouse_task("sync targets")
def sync_targets(
    audiences: list[str] | None = None, destinations: list[str] | None = None
) -> list[dict[str, str]]:
    """One entry per audience × destination to sync (the mapped tasks' arguments).

    From the catalogue (``marts.audiences``): each audience goes to the destinations it declares
    that the platform can sync (``DESTINATIONS``), when it is big enough (``is_syncable``) — or when
    the platform already holds it (``ops.sync_state``), so that people who withdrew consent or
    left the audience are removed even after it shrank below its minimum size.
    """
    from audience.warehouse import connect  # noqa: PLC0415

    with connect() as conn:
        catalogue = conn.execute(
            "select audience_key, destinations, is_syncable from marts.audiences order by audience_key"
        ).fetchall()
        held: set[tuple[str, str]] = set()
        if conn.execute("select to_regclass('ops.sync_state')").fetchone()[0] is not None:
            held = {
                (r[0], r[1])
                for r in conn.execute(
                    "select distinct audience_key, destination from ops.sync_state"
                ).fetchall()
            }
    known = [row[0] for row in catalogue]
    if audiences:
        unknown = sorted(set(audiences) - set(known))
        if unknown:
            raise ValueError(f"unknown audience(s) {unknown}; the catalogue (audiences/*.yml) has: {known}")
    wanted = list(destinations or DESTINATIONS)
    bad = sorted(set(wanted) - set(DESTINATIONS))
    if bad:
        raise ValueError(f"unknown destination(s) {bad}; choose from {list(DESTINATIONS)}")
    targets: list[dict[str, str]] = []
    for key, declared, syncable in catalogue:
        if audiences and key not in audiences:
            continue
        for dest in declared or []:
            if dest not in wanted:
                if dest not in DESTINATIONS:
                    log.warning(
                        "audience %s: destination %s is not supported by the sync yet; skipped", key, dest
                    )
                continue
            if syncable or (key, dest) in held:
                targets.append({"audience_key": key, "destination": dest})
            else:
                log.info("audience %s: below its minimum size and never synced to %s; not sent", key, dest)
    return targets


@warehouse_task("sync of {0} to {1}")
def sync_one(
    audience_key: str, destination: str, *, dry_run: bool = False, full_refresh: bool = False
) -> dict[str, Any]:
    from audience.destinations.sync import sync_audience  # noqa: PLC0415
    from audience.warehouse import connect  # noqa: PLC0415

    with connect() as conn:
        result = sync_audience(conn, destination, audience_key, dry_run=dry_run, full_refresh=full_refresh)
    summary = result.summary()
    if summary.get("outcome") == "failed":
        raise RuntimeError(f"sync of {audience_key} to {destination} failed: {summary.get('message')}")
    return summary
