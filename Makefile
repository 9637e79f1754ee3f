# Two entry points for a fresh machine: `make dev` and `make test`.
# Both bootstrap their own virtual environment from pyproject.toml.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The suite runs on PYTEST_WORKERS processes (pytest-xdist), a whole file per process
# so module-scoped fixtures are shared; the tests marked `serial` (they restart the
# shared PostgreSQL server, or run the whole platform as processes with their
# connection pools) run alone afterwards.
PYTEST_WORKERS ?= 2

.PHONY: dev test test-fast lint bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(VENV)/bin/crowdfund dev

test: $(STAMP)
	bash scripts/test-services.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	parallel=0; $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not serial" \
	  --durations=15 || parallel=$$?; $(VENV)/bin/pytest -m serial --durations=5 && exit $$parallel

# Aggregates and rules without a database (seconds).
test-fast: $(STAMP)
	$(VENV)/bin/pytest -m fast

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
