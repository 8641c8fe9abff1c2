# nnfs: one obvious command per job. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DIST   := $(VENV)/.installed-distributed

.DEFAULT_GOAL := help
.PHONY: help setup test lint gradcheck bench demo studies

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install nnfs (editable) with the dev tools; idempotent

# the tests also run a sweep through the Ray launcher into an MLflow server on PostgreSQL
$(DIST): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,distributed]'
	touch $(DIST)

test: $(DIST) ## run the whole test suite (needs PostgreSQL's server: apt-get install postgresql)
	$(BIN)/python -m pytest -q

lint: setup ## ruff check
	$(BIN)/ruff check nnfs tests

gradcheck: setup ## check every backward pass against central differences
	$(BIN)/nnfs-gradcheck

bench: setup ## speed: nnfs vs scikit-learn, tracking, report (~3 min, +1 the first time; QUICK=1: < 1 min) -> bench.json
	$(BIN)/nnfs-bench $(if $(QUICK),--quick) --json bench.json

demo: setup ## the tour: separability, activations x loss, baselines -> mlflow.db + report (< 5 min)
	$(BIN)/python -m nnfs.study_cli tour --jobs 2
	@echo ""
	@echo "Browse the runs:  $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1"
	@echo "                  then open http://127.0.0.1:5000 (experiment 'tour')"

studies: setup ## run every study (nnfs-study all): verdicts, reports, reports/studies.md
	$(BIN)/python -m nnfs.study_cli all --jobs 2

.PHONY: server server-stop
server: setup ## MLflow server on PostgreSQL at http://127.0.0.1:5050, data in .server/; prints its URI
	@$(BIN)/python -c "import psycopg2, hydra_plugins.hydra_ray_launcher" 2>/dev/null \
		|| $(BIN)/python -m pip install --quiet -e '.[dev,distributed]'
	@scripts/server.sh start

server-stop: ## stop the server of `make server` by its PIDs (the data stays in .server/)
	@scripts/server.sh stop
