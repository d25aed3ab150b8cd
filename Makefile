# Every target bootstraps its own virtual environment on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 1
DAGSTER_HOME_DIR ?= $(CURDIR)/data/dagster_home
BENCH_ARGS ?=

.PHONY: help venv demo test dev dashboard lint clean bench bench-full bench-smoke

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## generate landing data and materialize every asset on DuckDB, print Key Stats
	$(BIN)/sony-de demo --scale $(SCALE)

test: $(STAMP)  ## lint, then the whole test suite
	$(BIN)/ruff check sony_de_platform sony_de_platform_tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadfile

dev: $(STAMP)  ## Dagster UI (webserver + daemon) on http://127.0.0.1:3000
	mkdir -p $(DAGSTER_HOME_DIR)
	cp deploy/dagster.dev.yaml $(DAGSTER_HOME_DIR)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME_DIR) $(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

dashboard: $(STAMP)  ## the Streamlit pipeline monitor on http://127.0.0.1:8501 (reads the published copy)
	$(BIN)/streamlit run sony_de_platform/dashboard/app.py --server.address 127.0.0.1 \
		--server.port 8501 --server.headless true --browser.gatherUsageStats false

lint: $(STAMP)
	$(BIN)/ruff check sony_de_platform sony_de_platform_tests benchmarks
	$(BIN)/ruff format --check sony_de_platform sony_de_platform_tests benchmarks

bench: $(STAMP)  ## benchmarks, quick mode (the sections at scale 10, the pipeline at 0.1 and 1; < 10 min on 2 cores): tables printed, figures to data/bench/results.json
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-full: $(STAMP)  ## benchmarks at the issue's scales (10; scaling at 1/10/30/100; 5 runs at 1 and of the sections, 3 at 10/30/100): about 50 minutes
	$(BIN)/python -m benchmarks --full $(BENCH_ARGS)

bench-smoke: $(STAMP)  ## benchmarks at a tiny scale, once, figures not judged (CI runs it in make test)
	$(BIN)/python -m benchmarks --smoke $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data dbt_project/target dbt_project/logs

help:  ## this list of targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/:.*## /\t/'
