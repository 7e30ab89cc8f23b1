# The platform's commands. Everything runs from a fresh clone with only Python 3.11+.
#   make demo     the whole pipeline on the embedded default, with a summary
#   make test     the test suite (what CI runs)
#   make airflow  Airflow standalone with this project's DAGs, the warehouse and the sandbox
#   make evaluate the demo, then its segments scored against the synthetic world's planted truth
#   make bench    the whole pipeline per stage at SIZES contacts, beside a plain COPY of its raw rows
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9
SIZES  ?= 10000 100000 1000000
EVENTS ?= 20

.PHONY: install demo test evaluate audiences airflow bench bench-sync bench-ingest dbt-parse env lint format clean stop

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@echo "installing pinned requirements into $(VENV) ..."
	@# bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on this project's CI), every
	@# Airflow task, dbt call and test process would otherwise compile each module it imports from source
	@$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/audience demo

test: install
	$(BIN)/audience audiences check
	$(BIN)/audience dbt-parse >/dev/null
	$(BIN)/pytest -q

evaluate: install
	$(BIN)/audience demo
	$(BIN)/audience evaluate

audiences: install
	$(BIN)/audience audiences compile

airflow: install
	$(BIN)/audience airflow

bench: install
	$(BIN)/audience bench --contacts $(SIZES) --events-per-contact $(EVENTS) --json .local/bench/pipeline.json

bench-ingest: install
	$(BIN)/audience bench-ingest

bench-sync: install
	$(BIN)/audience bench-sync

dbt-parse: install
	$(BIN)/audience dbt-parse

env: install
	$(BIN)/audience env

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

stop:
	-$(BIN)/audience warehouse stop

clean: stop
	rm -rf .local .env dbt_project/target dbt_project/logs
