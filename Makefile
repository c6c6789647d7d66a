# Every target bootstraps .venv itself: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2 --durations=15

.PHONY: run demo test lint format bench bench-poll bench-fetch bench-parse bench-storage bench-opml bench-extraction bench-tagging bench-web browser clean help

help:
	@echo "make run    - set up and run the scheduler and web view on http://127.0.0.1:8080"
	@echo "make demo   - run the offline demo (bundled sample site, separate demo database)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - every benchmark (bench-poll, bench-extraction, bench-tagging, bench-web)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,bench]'
	@touch $(STAMP)

run: $(STAMP)
	AGGREGATOR_AUTO_MIGRATE=$${AGGREGATOR_AUTO_MIGRATE:-true} $(BIN)/aggregator run

demo: $(STAMP)
	$(BIN)/aggregator demo

# Browser tests need Debian's chromium; install it when we may (root with apt), else they skip.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: browser tests will skip"; \
	  else echo "chromium not installed: browser tests will skip"; fi; }

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check aggregator web tests benchmarks
	$(BIN)/ruff format --check aggregator web tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format aggregator web tests benchmarks
	$(BIN)/ruff check --fix aggregator web tests benchmarks

BENCHMARKS := poll fetch parse storage opml extraction tagging web

bench: $(addprefix bench-,$(BENCHMARKS))

# bench-NAME runs benchmarks/NAME.py
$(addprefix bench-,$(BENCHMARKS)): bench-%: $(STAMP)
	$(BIN)/python benchmarks/$*.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
