"""How many threads the models' numeric libraries may use (``audience.ml.threads``)."""

from __future__ import annotations

import os

import pytest
from threadpoolctl import threadpool_info

from audience import ml
from audience.settings import SettingError


@pytest.mark.parametrize(("cpus", "expected"), [(1, 1), (2, 1), (3, 1), (8, 4)])
def test_by_default_each_model_takes_half_the_cpus_and_at_least_one(monkeypatch, cpus, expected):
    monkeypatch.delenv("AUDIENCE_ML_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert ml.threads() == expected


def test_the_setting_overrides_the_default_and_a_bad_one_names_itself(monkeypatch):
    monkeypatch.setenv("AUDIENCE_ML_THREADS", "3")
    assert ml.threads() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("AUDIENCE_ML_THREADS", bad)
        with pytest.raises(SettingError, match="AUDIENCE_ML_THREADS"):
            ml.threads()


def test_within_the_limit_openmp_and_blas_run_one_thread_and_after_it_as_before(monkeypatch):
    monkeypatch.setenv("AUDIENCE_ML_THREADS", "1")
    with ml.limited_threads():
        inside = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
    after = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
    apis = {i["internal_api"] for i in threadpool_info()}
    assert {"openmp", "openblas"} <= apis  # scikit-learn's OpenMP and the BLAS were both loaded
    assert set(inside.values()) == {1}
    with ml.limited_threads(2):
        assert {i["num_threads"] for i in threadpool_info()} == {2}
    assert {i["filepath"]: i["num_threads"] for i in threadpool_info()} == after
