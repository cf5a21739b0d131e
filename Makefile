# The two commands a newcomer needs: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.requirements-installed

.PHONY: setup run test check lint bench-lab bench-engine bench-live bench-classroom bench-strip bench-tradeoffs bench-rebalance bench-scale

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(INSTALLED)

# System packages before anything else: building the venv needs python3-venv, and `make test`
# needs more of them (the browser, Redis, PostgreSQL) than `make run`. As root it installs them.
SYSTEM_PACKAGES_FOR ?= run
.PHONY: system-packages
system-packages:
	PYTHON=$(PYTHON) bin/system-packages $(SYSTEM_PACKAGES_FOR)

$(INSTALLED): | system-packages

setup: system-packages $(INSTALLED)
	$(PY) -m playground.lab.prerequisites
	$(PY) manage.py migrate --noinput -v0

# DEBUG (tracebacks on error pages) by default here, where only this machine can reach the app.
run: setup
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py serve

test: SYSTEM_PACKAGES_FOR = test
test: setup
	$(PY) -m pytest

# The fast lane while working: ruff, then every test that needs no Kafka, browser, PostgreSQL or
# Redis (the marks of tests/conftest.py), each on a twentieth of its random cases: about 50 s of
# CPU, and no cluster started.
NEEDS_NOTHING := not kafka and not browser and not postgres and not redis
check: $(INSTALLED)
	$(VENV)/bin/ruff check .
	PLAYGROUND_TEST_QUICK=1 $(PY) -m pytest -m "$(NEEDS_NOTHING)"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench-lab: setup
	$(PY) -m bench.lab

bench-engine: setup
	$(PY) -m bench.engine

bench-live: setup
	$(PY) -m bench.live

# 30 students start a preset at once: time to the last verdict, live latency, audit invariants
bench-classroom: setup
	$(PY) -m bench.classroom

# The log strip of a 1,000,000-record, 12-partition run: fragment size, updates, agreement
bench-strip: setup
	$(PY) -m bench.strip

# The course's trade-off table in one click: wall time to the full table, each spec's figures
bench-tradeoffs: setup
	$(PY) -m bench.tradeoffs

# The rebalance protocols' comparison in one click, against the real lab: figures and wall time.
bench-rebalance: setup
	$(PY) -m bench.rebalance

# 100,000 and 1,000,000 records: pipeline, audit and peak memory, beside Kafka's ProducerPerformance
bench-scale: setup
	$(PY) -m bench.scale

# Random experiments under random faults, each checked against a recount: make soak RUNS=20 SEED=7
RUNS ?= 200
SEED ?= 1
.PHONY: soak
soak: setup
	$(PY) -m tools.soak --runs $(RUNS) --seed $(SEED) $(if $(PARALLEL),--parallel $(PARALLEL))
