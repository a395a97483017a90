# One entry point per job. `make run` and `make test` work on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv run test check coverage lint typecheck proto bench compose-test diagram clean

$(BIN)/flowhost: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

venv: $(BIN)/flowhost

## Start the cluster: gateway on 127.0.0.1:8080, two executors, the example package deployed.
run: venv
	$(BIN)/flowhost up

## Run the test suite (what CI runs), in parallel workers: the tests mostly wait on real
## processes, so 3 workers fit 2 cores (TEST_WORKERS=0 runs them in this process).
TEST_WORKERS ?= 3
test: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

## Lint, type-check, and run the suite measuring coverage (the floor is in pyproject.toml).
check: venv lint typecheck coverage

coverage: venv
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --cov --cov-report=term

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

## Regenerate protobuf code after editing protos/**/*.proto.
proto: venv
	$(BIN)/python -m protos.generate

## Redraw docs/architecture.svg from docs/architecture.dot (needs Graphviz: apt-get install graphviz).
diagram:
	dot -Tsvg docs/architecture.dot -o docs/architecture.svg

## Benchmark the quote action against the FastAPI floor (and Node-RED when scripts/install-nodered.sh ran).
bench: venv
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/flowhost bench $(if $(wildcard peer/nodered/node_modules/node-red),--peer nodered,) $(BENCH_ARGS)

## Build the image and run docker-compose.yml end to end under load, failover included (root;
## Debian's docker.io, docker-compose, debootstrap; no registry needed). README "Load test with compose".
compose-test: venv
	nice -n 10 $(BIN)/python scripts/compose_test.py $(COMPOSE_TEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .flowhost .coverage .coverage.*
