# The project's commands. `make demo` and `make test` are the two the README starts with.
.PHONY: setup demo test lint infra unit bench clean-lake

CARGO ?= cargo

setup:
	@scripts/setup.sh

# Set up, then run the pipeline on the embedded default: a local directory ./lake.
demo: setup
	$(CARGO) run --bin lakehouse -- run
	$(CARGO) run --bin lakehouse -- tables

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# cfn-lint, statelint and the template <-> state machine <-> functions/ cross-checks.
infra:
	.venv/bin/python tests/check_infra.py

# Everything CI runs: lint, infra checks, unit and handler tests, end-to-end tests (local
# directory and S3 server) checked by PyIceberg.
test: setup lint infra
	$(CARGO) nextest run --workspace --no-fail-fast

unit:
	$(CARGO) nextest run --workspace --lib

# Throughput, end-to-end time and peak memory per stage, release build (figures in the README).
bench:
	$(CARGO) run --release --bin lakehouse -- bench --orders 1000000

clean-lake:
	rm -rf lake
