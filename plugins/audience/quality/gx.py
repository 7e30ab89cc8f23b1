"""The quality gate: Great Expectations suites run against the warehouse.

``run_gate()`` validates every suite module of the ``expectations`` package (one
module per mart, each defining ``SCHEMA``, ``TABLE`` and ``build_suite()``),
records one row per expectation in ``ops.validation_runs``, writes Data Docs to
``.local/gx_data_docs/`` and raises :class:`QualityGateFailed` when a
``critical`` expectation fails (``warning``/``info`` failures are recorded and
logged, and do not stop the gate). ``validate_table()`` runs one suite on one
table and records nothing.

Great Expectations is imported lazily, inside these functions: importing it
costs about ten seconds of CPU (pandas, scipy, altair), which must not happen
when Airflow parses a DAG file. It runs quiet: no progress bars, its loggers at
``AUDIENCE_GX_LOG_LEVEL`` (default WARNING), analytics off.
``AUDIENCE_GX_DATA_DOCS=false`` turns the Data Docs off.

No PII leaves through here: results are scrubbed (``audience.quality.checks``)
before they are logged, stored, returned or rendered as Data Docs. Rows land in
``ops.validation_runs`` (``audience.quality.validation_runs``).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import json
import logging
import os
import pkgutil
import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from audience import warehouse
from audience.quality.checks import (
    MESSAGE_LIMIT,
    SAMPLE_SIZE,
    UNEXPECTED_ROWS,
    CheckResult,
    GateResult,
    QualityGateError,
    QualityGateFailed,
    ValidationOutcome,
    checks_from_result,
    exception_message,
    safe_row,
    scrub_result,
)
from audience.quality.config import GateConfig, load_config
from audience.quality.validation_runs import count_rows, previous_row_counts, record_checks, row_count_checks
from audience.settings import SettingError, env_flag, local_dir
from audience.warehouse import WarehouseError, WarehouseParams, parse_connection

if TYPE_CHECKING:
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult

__all__ = [
    "CheckResult",
    "GateResult",
    "QualityGateError",
    "QualityGateFailed",
    "GateConfig",
    "SuiteSpec",
    "ValidationOutcome",
    "load_suite",
    "quiet_gx",
    "run_gate",
    "statistical_checks",
    "suite_modules",
    "validate_table",
]

log = logging.getLogger(__name__)

DATA_DOCS_SITE = "local"
_GX_LOGGER = "great_expectations"


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class SuiteSpec:
    """A suite and the table it validates."""

    name: str
    schema: str
    table: str
    build: Callable[[], gx.ExpectationSuite]

    @property
    def table_name(self) -> str:
        return f"{self.schema}.{self.table}"


def load_suite(module_name: str) -> SuiteSpec:
    """The suite of ``expectations.<module_name>`` (a module with SCHEMA, TABLE and build_suite())."""
    qualified = module_name if module_name.startswith("expectations.") else f"expectations.{module_name}"
    quiet_gx()
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name != qualified:
            raise
        raise QualityGateError(
            f"no suite module {qualified}; suites are the modules of the expectations/ folder "
            f"(found: {', '.join(suite_modules()) or 'none'})"
        ) from None
    quiet_gx()  # the suite module imported GX
    missing = [attr for attr in ("SCHEMA", "TABLE", "build_suite") if not hasattr(module, attr)]
    if missing:
        raise QualityGateError(
            f"{qualified} lacks {', '.join(missing)}; a suite module defines SCHEMA, TABLE and build_suite()"
        )
    name = getattr(module, "SUITE_NAME", qualified.rsplit(".", 1)[-1])
    return SuiteSpec(name=name, schema=module.SCHEMA, table=module.TABLE, build=module.build_suite)


def suite_modules() -> list[str]:
    """Names of the suite modules in the ``expectations`` package (private modules skipped)."""
    import expectations  # noqa: PLC0415

    return sorted(m.name for m in pkgutil.iter_modules(expectations.__path__) if not m.name.startswith("_"))


def _resolve_suites(suites: Sequence[str | SuiteSpec] | None) -> list[SuiteSpec]:
    specs = [s if isinstance(s, SuiteSpec) else load_suite(s) for s in (suites or suite_modules())]
    if not specs:
        raise QualityGateError("no suites to run: the expectations/ folder holds no suite module")
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        key = (spec.name, spec.table_name)
        if key in seen:
            raise QualityGateError(f"suite {spec.name} on {spec.table_name} is listed twice; list it once")
        seen.add(key)
    return specs


# --------------------------------------------------------------------------- connection


def _resolve_target(target: WarehouseParams | str | None) -> WarehouseParams:
    if target is None:
        return warehouse.params()
    if isinstance(target, WarehouseParams):
        return target
    if isinstance(target, str):
        # accept SQLAlchemy URLs too (postgresql+psycopg://...)
        return parse_connection(re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", target.strip()))
    raise TypeError(
        f"target must be WarehouseParams, a postgresql:// URI or None, not {type(target).__name__}"
    )


def sqlalchemy_url(params: WarehouseParams) -> str:
    """The SQLAlchemy URL Great Expectations needs (psycopg 3 driver)."""
    return "postgresql+psycopg://" + params.uri().split("://", 1)[1]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _gx_log_level() -> int:
    raw = os.environ.get("AUDIENCE_GX_LOG_LEVEL", "WARNING").strip().upper()
    level = logging.getLevelName(raw)
    if not isinstance(level, int):
        raise SettingError(
            f"AUDIENCE_GX_LOG_LEVEL={raw!r} is not a log level; use DEBUG, INFO, WARNING or ERROR"
        )
    return level


def quiet_gx() -> None:
    """Make Great Expectations quiet: analytics off, its loggers at AUDIENCE_GX_LOG_LEVEL (default WARNING).

    Call it before importing GX (it logs at INFO while loading) and again after: some GX modules
    set their own logger to INFO on import; those are reset to inherit from ``great_expectations``.
    Progress bars are a per-context setting, turned off where the gate makes its context.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    level = _gx_log_level()
    logging.getLogger(_GX_LOGGER).setLevel(level)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith(_GX_LOGGER + ".") and isinstance(logger, logging.Logger):
            if logger.level != logging.NOTSET and logger.level < level:
                logger.setLevel(logging.NOTSET)


def _import_gx() -> Any:
    quiet_gx()
    import great_expectations  # noqa: PLC0415

    quiet_gx()
    return great_expectations


# --------------------------------------------------------------------------- GX session


def _config_key(cfg: Any) -> str:
    """An expectation's identity across suites: its type, arguments (not the batch) and meta."""
    kwargs = {k: v for k, v in (cfg.kwargs or {}).items() if k != "batch_id"}
    return json.dumps([cfg.type, kwargs, cfg.meta or {}], sort_keys=True, default=str)


class _GxSession:
    """One ephemeral GX context with the warehouse as its Postgres data source."""

    def __init__(self, params: WarehouseParams, data_docs_dir: Path | None = None) -> None:
        gx = _import_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: PLC0415

        self._gx = gx
        self.params = params
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.context.variables.analytics_enabled = False
        try:
            self.datasource = self.context.data_sources.add_postgres(
                "warehouse", connection_string=sqlalchemy_url(params)
            )
        except Exception as exc:  # noqa: BLE001 - GX wraps driver errors in several types
            raise WarehouseError(
                f"Great Expectations cannot connect to the warehouse at {params.redacted()}: {_first_line(exc)}. "
                "Check AIRFLOW_CONN_WAREHOUSE (or unset it to use the embedded server)."
            ) from None
        self.data_docs_dir = data_docs_dir
        if data_docs_dir is not None:
            data_docs_dir.mkdir(parents=True, exist_ok=True)
            self.context.add_data_docs_site(
                DATA_DOCS_SITE,
                {
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(data_docs_dir),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self._suite_names: set[str] = set()
        self._docs_keys: list[Any] = []
        self._archived_keys: set[Any] = set()
        self._archive = self._open_archive(data_docs_dir) if data_docs_dir is not None else None

    def __enter__(self) -> _GxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections GX opened (it keeps two engines)."""
        try:
            self.datasource.get_engine().dispose()
            self.datasource.get_execution_engine().engine.dispose()
        except Exception:  # noqa: BLE001 - closing is best effort
            log.debug("could not dispose GX engines", exc_info=True)

    def _has_table(self, schema: str, table: str) -> bool:
        import sqlalchemy as sa  # noqa: PLC0415

        return sa.inspect(self.datasource.get_engine()).has_table(table, schema=schema)

    def validate(
        self,
        schema: str,
        table: str,
        suite: gx.ExpectationSuite,
        *,
        run_name: str,
        run_at: datetime,
    ) -> ValidationOutcome:
        from great_expectations.core.run_identifier import RunIdentifier  # noqa: PLC0415

        started = time.monotonic()
        table_name = f"{schema}.{table}"
        if suite.name in self._suite_names:
            raise QualityGateError(f"suite {suite.name} validated twice in one GX session; use one per table")
        self._suite_names.add(suite.name)
        if not self._has_table(schema, table):
            missing = CheckResult(
                suite=suite.name,
                table_name=table_name,
                check_name="table_exists",
                expectation_type="table_exists",
                success=False,
                severity="critical",
                observed={"exists": False},
                message=f"table {table_name} does not exist or is not readable; build it first "
                f"(dbt build --select {table}) and re-run the gate",
            )
            return ValidationOutcome(suite.name, table_name, (missing,), time.monotonic() - started)

        asset = self.datasource.add_table_asset(table_name, table_name=table, schema_name=schema)
        batch = asset.add_batch_definition_whole_table("whole_table")
        gx_suite = self.context.suites.add(suite)
        order = {e.id: i for i, e in enumerate(gx_suite.expectations)}
        definition = self.context.validation_definitions.add(
            self._gx.ValidationDefinition(name=f"{suite.name}:{table_name}", data=batch, suite=gx_suite)
        )
        # No sample of unexpected values on this pass: GX reads them for every column check with a
        # query of its own, a whole scan of the table when the check finds none. The checks that
        # found some are validated again for their samples (_add_samples); the others have none to
        # show. On audience_members at 1M contacts: 18.2 s -> 10.8 s (README, Benchmark).
        result = definition.run(
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0},
            run_id=RunIdentifier(run_name=run_name, run_time=run_at),
        )
        self._add_samples(result, batch, suite.name, table_name, run_name, run_at)
        for res in result.results:
            scrub_result(res)
        samples = self._unexpected_row_samples(schema, table, result)
        checks = checks_from_result(result, suite.name, table_name, samples, order)
        if self.data_docs_dir is not None:
            self._update_data_docs(result, suite.name, run_name)
        return ValidationOutcome(suite.name, table_name, tuple(checks), time.monotonic() - started)

    def _add_samples(
        self,
        result: ExpectationSuiteValidationResult,
        batch: Any,
        suite_name: str,
        table_name: str,
        run_name: str,
        run_at: datetime,
    ) -> None:
        """The column checks that found unexpected values, validated again with ``SAMPLE_SIZE`` of
        them: their results (counts and samples) replace the first pass's, in place."""
        from great_expectations.core.run_identifier import RunIdentifier  # noqa: PLC0415

        redo: dict[str, list[Any]] = {}
        for r in result.results:
            if r.expectation_config.type != UNEXPECTED_ROWS and (r.result or {}).get("unexpected_count"):
                redo.setdefault(_config_key(r.expectation_config), []).append(r)
        if not redo:
            return
        expectations = []
        for same in redo.values():  # an expectation listed twice is validated again once
            expectation = same[0].expectation_config.to_domain_obj()
            expectation.id = None  # a copy, in a suite of its own
            expectations.append(expectation)
        name = f"{suite_name}:samples"
        gx_suite = self.context.suites.add(self._gx.ExpectationSuite(name=name, expectations=expectations))
        definition = self.context.validation_definitions.add(
            self._gx.ValidationDefinition(name=f"{name}:{table_name}", data=batch, suite=gx_suite)
        )
        again = definition.run(
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
            run_id=RunIdentifier(run_name=run_name, run_time=run_at),
        )
        for r in again.results:
            for first in redo.get(_config_key(r.expectation_config), []):
                first.result = copy.deepcopy(r.result)  # each is scrubbed in place, once
                first.success = r.success
                first.exception_info = r.exception_info
        # GX stored this pass's result as it came (not scrubbed): it must not reach the Data Docs
        store = self.context.validation_results_store
        for key in store.list_keys():
            if key.expectation_suite_identifier.name == name:
                store.store_backend.remove_key(key.to_tuple())

    def _unexpected_row_samples(
        self, schema: str, table: str, result: ExpectationSuiteValidationResult
    ) -> dict[str, list[dict[str, Any]]]:
        """A few rows of each failing unexpected-rows query, id/key/hash columns only.

        GX returns those rows only in its COMPLETE result format, which is unbounded for column
        expectations, so the failing queries (ours, from the suite) are sampled again with a LIMIT.
        """
        import sqlalchemy as sa  # noqa: PLC0415

        queries: dict[str, tuple[str, ...]] = {}
        for r in result.results:
            cfg = r.expectation_config
            if cfg.type == UNEXPECTED_ROWS and not r.success and not exception_message(r.exception_info):
                shown = tuple(str(c) for c in (cfg.meta or {}).get("sample_columns") or ())
                queries[cfg.kwargs["unexpected_rows_query"]] = shown
        samples: dict[str, list[dict[str, Any]]] = {}
        if not queries:
            return samples
        batch = f'"{schema}"."{table}"'
        with self.datasource.get_engine().connect() as conn:
            for query, shown in queries.items():
                try:
                    sql = query.format(batch=batch)
                    rows = conn.execute(sa.text(f"select * from ({sql}) as unexpected limit {SAMPLE_SIZE}"))
                    samples[query] = [safe_row(dict(row._mapping), shown) for row in rows]
                except Exception as exc:  # noqa: BLE001 - a sample is a nicety, never a failure
                    conn.rollback()
                    log.debug("could not sample unexpected rows: %s", _first_line(exc))
        return samples

    def _update_data_docs(
        self, result: ExpectationSuiteValidationResult, suite_name: str, run_name: str
    ) -> None:
        """Store the scrubbed result in place of GX's own copy and keep it in the archive (replacing
        an earlier attempt of the same run); :meth:`finish_data_docs` renders the pages."""
        store = self.context.validation_results_store
        try:
            keys = [
                k
                for k in store.list_keys()
                if k.expectation_suite_identifier.name == suite_name
                and k.run_id.run_name == run_name
                and k not in self._archived_keys
            ]
            for key in keys:
                store.set(key, result)
            if self._archive is not None:
                for old in self._archive.list_keys():
                    same = (
                        old.expectation_suite_identifier.name == suite_name
                        and old.run_id.run_name == run_name
                    )
                    if same and old not in keys:  # an earlier attempt (Airflow retry) of this run
                        self._archive.remove_key(old)
                        store.store_backend.remove_key(old.to_tuple())
                for key in keys:
                    self._archive.set(key, result)
            self._docs_keys += keys
        except Exception as exc:  # noqa: BLE001 - docs are a view; the gate's verdict stands without them
            log.warning("could not write Data Docs for suite %s: %s", suite_name, _first_line(exc))

    def _open_archive(self, data_docs_dir: Path) -> Any:
        """The scrubbed results of earlier runs (``<docs>_results/``), loaded into this context's
        store so that the Data Docs index lists every run; None when it cannot be read."""
        from great_expectations.data_context.store import ValidationResultsStore  # noqa: PLC0415

        folder = data_docs_dir.parent / f"{data_docs_dir.name}_results"
        try:
            archive = ValidationResultsStore(
                store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)}
            )
            memory = self.context.validation_results_store.store_backend
            for key in archive.list_keys():
                memory.set(key.to_tuple(), archive.store_backend.get(key.to_tuple()))
                self._archived_keys.add(key)
        except Exception as exc:  # noqa: BLE001 - earlier runs are a nicety in the docs
            log.warning("could not read earlier validation results from %s: %s", folder, _first_line(exc))
            return None
        return archive

    def finish_data_docs(self) -> None:
        """Render this session's result pages and the index (every run in the archive, newest first)."""
        if self.data_docs_dir is None or not self._docs_keys:
            return
        try:
            self.context.build_data_docs(site_names=[DATA_DOCS_SITE], resource_identifiers=self._docs_keys)
        except Exception as exc:  # noqa: BLE001 - docs are a view; the gate's verdict stands without them
            log.warning("could not write the Data Docs index: %s", _first_line(exc))


# --------------------------------------------------------------------------- public API


def _data_docs_dir(data_docs: bool | Path | None) -> Path | None:
    if isinstance(data_docs, Path):
        return data_docs
    enabled = env_flag("AUDIENCE_GX_DATA_DOCS", True) if data_docs is None else data_docs
    return local_dir() / "gx_data_docs" if enabled else None


def _log_outcome(outcome: ValidationOutcome) -> None:
    failed = outcome.failed
    log.info(
        "suite %s on %s: %d checks, %d failed (%d critical) in %.2fs",
        outcome.suite,
        outcome.table_name,
        len(outcome.checks),
        len(failed),
        sum(c.blocking for c in failed),
        outcome.duration_s,
    )
    for check in failed:
        log.warning(
            "%s check failed on %s: %s: %s", check.severity, check.table_name, check.check_name, check.message
        )


def validate_table(
    schema: str,
    table: str,
    suite: gx.ExpectationSuite,
    *,
    target: WarehouseParams | str | None = None,
    run_id: str | None = None,
    data_docs: bool | Path | None = False,
) -> ValidationOutcome:
    """Run ``suite`` on ``schema.table`` of the warehouse (``target``, default: the configured one).

    Records nothing and raises nothing on failed checks: the outcome says what failed.
    """
    params = _resolve_target(target)
    run_at = datetime.now(UTC)
    with _GxSession(params, _data_docs_dir(data_docs)) as session:
        outcome = session.validate(
            schema, table, suite, run_name=run_id or _new_run_id(run_at), run_at=run_at
        )
        session.finish_data_docs()
    _log_outcome(outcome)
    return outcome


def _new_run_id(run_at: datetime) -> str:
    return f"gate__{run_at:%Y%m%dT%H%M%SZ}__{uuid.uuid4().hex[:8]}"


def _build(spec: SuiteSpec, config: GateConfig) -> gx.ExpectationSuite:
    """The spec's suite, given the gate's configuration when its builder takes one."""
    if "config" in inspect.signature(spec.build).parameters:
        return spec.build(config=config)  # type: ignore[call-arg]
    return spec.build()


def _with_row_counts(
    outcomes: list[ValidationOutcome],
    counts: dict[str, int],
    previous: dict[str, tuple[str, int]],
    config: GateConfig,
) -> list[ValidationOutcome]:
    """Each outcome with its table's row-count checks (tables that could not be counted get none)."""
    checked: list[ValidationOutcome] = []
    for outcome in outcomes:
        if outcome.table_name not in counts:
            checked.append(outcome)
            continue
        extra = row_count_checks(
            outcome.suite,
            outcome.table_name,
            counts[outcome.table_name],
            previous.get(outcome.table_name),
            config,
        )
        checked.append(dataclasses.replace(outcome, checks=(*outcome.checks, *extra)))
    return checked


STATS_MODULE = "audience.quality.stats"


def _stats_failure(check_name: str, message: str, **observed: Any) -> CheckResult:
    return CheckResult(
        suite="stats",
        table_name="-",
        check_name=check_name,
        expectation_type="statistical",
        success=False,
        severity="critical",
        observed=observed,
        message=message[:MESSAGE_LIMIT],
    )


def statistical_checks(params: WarehouseParams, run_id: str) -> list[ValidationOutcome]:
    """The statistical checks of ``audience.quality.stats.run_checks`` (when that module exists),
    grouped by suite and table. A crash of those checks is a failed critical check, not a crash."""
    started = time.monotonic()
    try:
        stats = importlib.import_module(STATS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != STATS_MODULE:
            checks = [
                _stats_failure(
                    "stats_import",
                    f"the statistical checks need module {exc.name}, which is not installed",
                    missing_module=exc.name,
                )
            ]
            return [ValidationOutcome("stats", "-", tuple(checks), time.monotonic() - started)]
        log.info("no %s module: statistical checks skipped", STATS_MODULE)
        return []
    try:
        with psycopg.connect(**params.libpq(), connect_timeout=10) as conn:
            returned = list(stats.run_checks(conn, run_id))
    except Exception as exc:  # noqa: BLE001 - a broken check fails the gate; it must not hide the others
        log.exception("statistical checks raised")
        checks = [
            _stats_failure(
                "stats_run_checks",
                f"the statistical checks could not run: {type(exc).__name__}: {_first_line(exc)}",
                error=type(exc).__name__,
            )
        ]
        return [ValidationOutcome("stats", "-", tuple(checks), time.monotonic() - started)]
    bad = [type(c).__name__ for c in returned if not isinstance(c, CheckResult)]
    if bad:
        checks = [
            _stats_failure(
                "stats_run_checks",
                f"run_checks returned {len(bad)} value(s) that are not CheckResult ({sorted(set(bad))})",
            )
        ]
        return [ValidationOutcome("stats", "-", tuple(checks), time.monotonic() - started)]
    elapsed = time.monotonic() - started
    grouped: dict[tuple[str, str], list[CheckResult]] = {}
    for check in returned:
        grouped.setdefault((check.suite, check.table_name), []).append(check)
    return [
        ValidationOutcome(suite, table, tuple(checks), elapsed / len(grouped))
        for (suite, table), checks in grouped.items()
    ]


def _counts_and_statistics(
    params: WarehouseParams, tables: list[str], run_id: str, statistics: bool
) -> tuple[dict[str, int], dict[str, tuple[str, int]], list[ValidationOutcome]]:
    """The gate's reads beside the suites: each table's row count, its count at the previous
    passing run, and (with ``statistics``) the statistical checks."""
    counts = count_rows(params, tables)
    previous = previous_row_counts(params, tables, run_id)
    return counts, previous, statistical_checks(params, run_id) if statistics else []


def run_gate(
    target: WarehouseParams | str | None = None,
    suites: Sequence[str | SuiteSpec] | None = None,
    *,
    run_id: str | None = None,
    data_docs: bool | Path | None = None,
    raise_on_failure: bool = True,
    config: GateConfig | None = None,
    statistics: bool = True,
) -> GateResult:
    """Validate every suite (default: all modules of ``expectations/``), record, and decide.

    ``target`` is the warehouse (connection parameters or a ``postgresql://`` URI; default:
    ``audience.warehouse.params()``). ``run_id`` (e.g. Airflow's run id) makes a re-run replace its
    own rows in ``ops.validation_runs``. ``data_docs``: a folder, True for ``.local/gx_data_docs/``,
    None to follow ``AUDIENCE_GX_DATA_DOCS`` (default on). ``config``: the thresholds (default:
    ``load_config()``, i.e. ``AUDIENCE_GATE_*``). Each validated table's row count is checked
    against the previous passing run (``audience.quality.validation_runs``); with ``statistics``,
    the checks of ``audience.quality.stats.run_checks`` (when that module exists) run too.
    Raises :class:`QualityGateFailed` when a critical check failed (unless
    ``raise_on_failure=False``); ``GateResult.summary()`` is the XCom.
    """
    config = config or load_config()  # a bad threshold stops here, before anything is read
    params = _resolve_target(target)
    specs = _resolve_suites(suites)
    run_at = datetime.now(UTC)
    run_id = run_id or _new_run_id(run_at)
    docs_dir = _data_docs_dir(data_docs)
    started = time.monotonic()
    outcomes: list[ValidationOutcome] = []
    tables = [spec.table_name for spec in specs]
    # the row counts and the statistical checks read the warehouse on connections of their own, in a
    # thread beside the suites: the gate waits on PostgreSQL, one query at a time, and a second
    # query keeps the warehouse's other core busy (README, Benchmark)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gate-side") as side:
        beside = side.submit(_counts_and_statistics, params, tables, run_id, statistics)
        try:
            with _GxSession(params, docs_dir) as session:
                for spec in specs:
                    suite = _build(spec, config)
                    outcome = session.validate(spec.schema, spec.table, suite, run_name=run_id, run_at=run_at)
                    outcomes.append(outcome)
                session.finish_data_docs()
        except BaseException:
            beside.cancel()  # not started yet: skipped; running: the pool waits for it on exit
            raise
        counts, previous, stats_outcomes = beside.result()
    outcomes = _with_row_counts(outcomes, counts, previous, config) + stats_outcomes
    for outcome in outcomes:
        _log_outcome(outcome)
    docs_index = docs_dir / "index.html" if docs_dir is not None else None
    result = GateResult(
        run_id=run_id,
        run_at=run_at,
        outcomes=tuple(outcomes),
        duration_s=time.monotonic() - started,
        data_docs=str(docs_index) if docs_index is not None and docs_index.exists() else None,
    )
    recorded = record_checks(params, result, counts)
    log.info(
        "quality gate %s (run_id=%s): %d suites, %d checks, %d failed, %d critical, %d rows recorded in %.2fs",
        "passed" if result.success else "FAILED",
        run_id,
        len(outcomes),
        len(result.checks),
        len(result.failed),
        len(result.blocking),
        recorded,
        result.duration_s,
    )
    if raise_on_failure and not result.success:
        raise QualityGateFailed(result)
    return result
