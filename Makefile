# The project's commands. `make demo` and `make test` are the two the README starts with.
.PHONY: setup demo test lint infra lambdas unit bench clean-lake

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

# The four Lambda artifacts as zips under target/lambda/, sizes printed. `release` is what ships
# (thin LTO, stripped); LAMBDA_PROFILE=ci builds in about half the time.
LAMBDA_PROFILE ?= release
lambdas: setup
	scripts/build-lambdas.sh $(LAMBDA_PROFILE)

# Everything CI runs: lint, infra checks, unit and handler tests, end-to-end tests (local
# directory and S3 server) checked by PyIceberg, and the built Lambda artifacts under AWS's
# runtime interface emulator.
test: setup lint infra
	scripts/build-lambdas.sh ci
	$(CARGO) nextest run --workspace --no-fail-fast

unit:
	$(CARGO) nextest run --workspace --lib

# Throughput, end-to-end time and peak memory per stage, release build (figures in the README).
bench:
	$(CARGO) run --release --bin lakehouse -- bench --orders 1000000

clean-lake:
	rm -rf lake
