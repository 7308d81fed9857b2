# Changeward: the documented entry points. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: help system-deps install run up down test bench fuzz chaos lint format migrate asyncapi kafka-up kafka-down clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

system-deps: ## Debian packages the tests use (curl, jq, chromium), installed if missing.
	@command -v jq >/dev/null && command -v curl >/dev/null && command -v chromium >/dev/null \
		|| { apt-get update -qq && apt-get install -y -qq curl jq chromium; }

install: $(INSTALLED) ## Create .venv and install Changeward with its development tools.

run: $(INSTALLED) ## All-in-one: every service on 127.0.0.1:8080, embedded PostgreSQL, in-process bus.
	$(BIN)/changeward run

up: $(INSTALLED) ## Distributed: Kafka, PostgreSQL and the five services on ports 8081-8085.
	bash deploy/local/up.sh

down: ## Stop what `make up` started.
	bash deploy/local/down.sh

test: $(INSTALLED) system-deps ## Every test; starts PostgreSQL and Kafka itself.
	$(BIN)/pytest

bench: $(INSTALLED) ## Benchmarks against the ceiling (~5 min); writes bench/results/.
	$(BIN)/python -m bench

fuzz: $(INSTALLED) ## Schemathesis on every service's OpenAPI, 1,000 examples per operation (~30 min).
	FUZZ_PROFILE=full $(BIN)/pytest tests/fuzz --timeout=0

chaos: $(INSTALLED) ## Fault suite (~25 min): 5,000 changes through 40 faults; writes bench/results/chaos.json.
	$(BIN)/python -m chaos

lint: $(INSTALLED) ## ruff (check and format) and mypy --strict.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED) ## Apply ruff's fixes and formatting.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(INSTALLED) ## Migrate every service's schema, then check models and schema agree.
	$(BIN)/changeward migrate --check

asyncapi: $(INSTALLED) ## Regenerate docs/asyncapi.json, the event catalog, from the event contracts.
	$(BIN)/python -m shared.catalog docs/asyncapi.json

kafka-up: ## Start the local Kafka broker (KRaft, 127.0.0.1:9092).
	bash deploy/kafka/kafka.sh up

kafka-down: ## Stop the local Kafka broker.
	bash deploy/kafka/kafka.sh down

clean: down ## Stop everything and delete local data (.changeward, .cache).
	rm -rf .changeward .cache
