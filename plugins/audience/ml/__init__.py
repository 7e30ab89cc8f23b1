"""Python model tasks: they read ``raw``, write ``ml``, and dbt reads ``ml`` as sources.

Each model module listed in ``MODULES`` declares ``DDL``: the ``create table if not
exists`` statements of its output tables, so that dbt can build before the task
has run once (see ``audience.warehouse.ensure_source_tables``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from audience.settings import env_int

# the model modules of this package that own ml.* tables, in the order their DDL is applied
MODULES: tuple[str, ...] = ("psychographic", "propensity")


def ensure_tables(conn: psycopg.Connection) -> None:
    """Create every ``ml`` output table that does not exist yet (idempotent)."""
    with conn.cursor() as cur:
        for name in MODULES:
            module = importlib.import_module(f"audience.ml.{name}")
            cur.execute(module.DDL)


def threads() -> int:
    """How many threads each model's numeric libraries (OpenMP, BLAS) may use:
    ``AUDIENCE_ML_THREADS``, else half the CPUs this process may run on (at least one).

    The DAG runs the two models side by side. Each sized its thread pools to every core: four
    threads for two cores, where one each took the psychographic model from about 60 to 43
    CPU-seconds at 1M contacts, for the same clusters (README, Benchmark)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return env_int("AUDIENCE_ML_THREADS", max(1, cpus // 2), minimum=1, maximum=1024)


@contextmanager
def limited_threads(n: int | None = None) -> Iterator[None]:
    """Within it, OpenMP and BLAS run at most ``n`` threads (default ``threads()``) for the calling
    thread. OpenMP's limit belongs to the thread that sets it: a worker thread sets its own."""
    # the limits reach only the libraries loaded when they are set: importing scikit-learn loads
    # its OpenMP runtime and SciPy's BLAS (numpy's is loaded already)
    import sklearn  # noqa: F401, PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    with threadpool_limits(limits=n or threads()):
        yield
