# newsalert: the two quick-start commands are `make demo` and `make test`.
# Every target does its own set-up: it creates .venv and installs the project when needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv demo test test-unit test-cluster bench bench-batched bench-rules soak kafka-start kafka-stop schemas clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

## The main job: local broker, all services, the seeds replayed, alerts shown.
demo: venv
	$(BIN)/newsalert demo

## All tests; starts the local Kafka broker when none runs (and stops it afterwards).
## Installs chromium, chromium-driver and openssl with apt when they are missing.
test: venv
	bash deploy/install-test-tools.sh
	$(BIN)/pytest -q -p no:cacheprovider

## Only the pure unit tests (no broker).
test-unit: venv
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

## The three-broker cluster tests alone (own cluster, own ports; part of `make test` too).
test-cluster: venv
	$(BIN)/pytest -q -p no:cacheprovider -m cluster tests/e2e/test_kafka_cluster.py

## End-to-end benchmark: the whole pipeline on the local broker; writes the
## "End-to-end pipeline" section of docs/benchmarks.md and docs/latency.png (~15 min).
bench: venv
	$(BIN)/python benchmarks/pipeline_bench.py

## The same with every subscriber at batch_max 100 (batched delivery); writes its own section of
## docs/benchmarks.md and docs/latency-batched.png (~15 min).
bench-batched: venv
	$(BIN)/python benchmarks/pipeline_bench.py --batch-max 100

## Matching-engine benchmark: writes docs/benchmarks.md.
bench-rules: venv
	$(BIN)/python benchmarks/rules_bench.py

## Chaos soak: private broker, 2 matchers, 2 notifiers, ingest; kills, a broker outage and a failing
## endpoint at random times; checks every alert; writes the soak section of docs/reliability.md and
## docs/soak.png. 10 minutes of feeding by default: make soak SOAK_ARGS="--minutes 3".
soak: venv
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

kafka-start: venv
	$(BIN)/newsalert kafka start

kafka-stop: venv
	$(BIN)/newsalert kafka stop

## Regenerate the JSON Schema files under schemas/json.
schemas: venv
	$(BIN)/newsalert schemas export

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
