# The project's commands. `make demo` and `make test` are the two the README starts with.
.PHONY: setup demo test lint unit bench clean-lake

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

# Everything CI runs: lint, unit tests, end-to-end tests (local directory and S3 server) checked
# by PyIceberg.
test: setup lint
	$(CARGO) nextest run --workspace --no-fail-fast

unit:
	$(CARGO) nextest run --workspace --lib

# Throughput, end-to-end time and peak memory per stage, release build (figures in the README).
bench:
	$(CARGO) run --release --bin lakehouse -- bench --orders 1000000

clean-lake:
	rm -rf lake
