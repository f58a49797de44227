# citycc — city operations command center. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) ## Create .venv and install citycc with its pinned dependencies

# The front end (web/): npm ci from the committed lock into web/node_modules, then esbuild
# bundles the map and the charts into build/web/ (served as /dist/*); each step only when
# its inputs changed. Needs node and npm (make system-deps installs them).
WEB_STAMP := web/node_modules/.citycc-installed
WEB_OUT := build/web/manifest.json

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

$(WEB_OUT): $(WEB_STAMP) web/build.mjs $(wildcard web/src/*.js)
	node web/build.mjs

web: $(WEB_OUT) ## Build the front end (MapLibre map, ECharts charts) into build/web (skipped if current)

native: venv ## Compile the alerting core with mypyc into .venv/citycc-native (skipped if current)
	$(BIN)/python -m citycc.native build

kafka: venv system-deps ## Resolve the local Apache Kafka broker's jars from Maven Central into build/kafka
	$(BIN)/python -m deploy.kafka_jars

system-deps: ## Install Debian packages: clickhouse-server, Java 17, Maven, kcat, chromium, fonts-noto-cjk (root)
	@bash deploy/system-deps.sh

run: venv native system-deps kafka web ## Run the whole command center locally (broker, ClickHouse, workers, cockpit, simulated city)
	$(BIN)/citycc run

stop: ## Stop everything `make run` started (by recorded PID)
	@if [ -x $(BIN)/citycc ]; then $(BIN)/citycc stop; fi

status: ## Show what is running
	$(BIN)/citycc status

test: venv native system-deps kafka web ## Run every test: unit, integration (real broker + ClickHouse), browser
	CITYCC_REQUIRE_NATIVE=1 $(BIN)/python -m pytest -q

test-unit: venv native ## Fast unit tests only
	$(BIN)/python -m pytest -q tests/unit

bench: venv native system-deps kafka ## Throughput/latency benchmark of the pipeline (prints its figures)
	$(BIN)/python bench/pipeline.py

schemas: venv ## Export JSON Schemas of the input streams to build/schemas
	$(BIN)/citycc schemas export build/schemas

clean: stop ## Remove run state (.run) and build output
	rm -rf .run build

.PHONY: help venv web native kafka system-deps run stop status test test-unit bench schemas clean
