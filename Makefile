# The project's commands. `make demo` and `make test` are the two the README starts with.
.PHONY: setup demo test lint infra lambdas local-up local-down docker-up docker-down unit bench clean-lake

CARGO ?= cargo

setup:
	@scripts/setup.sh

# Set up, then run the pipeline on the embedded default: a local directory ./lake.
demo: setup
	$(CARGO) run --bin lakehouse -- run
	$(CARGO) run --bin lakehouse -- tables

lint:
	$(CARGO) fmt --all --check
	python3 tests/check_module_cycles.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# cfn-lint, statelint and the template <-> state machine <-> functions/ cross-checks.
infra:
	.venv/bin/python tests/check_infra.py

# The four Lambda artifacts as zips under target/lambda/, sizes printed. `release` is what ships
# (thin LTO, stripped); LAMBDA_PROFILE=ci builds in about half the time.
LAMBDA_PROFILE ?= release
lambdas: setup
	scripts/build-lambdas.sh $(LAMBDA_PROFILE)

# The real deployment on a local AWS without Docker: LocalStack (host process, the project's
# Lambda executor) and the lake's S3 server on loopback, the artifacts built, template.yaml
# deployed with `samlocal deploy --config-env local`. State and logs: .localstack/. The
# functions run on this machine, so they link with its toolchain, as `make test` builds them.
LOCAL_LAMBDA_PROFILE ?= ci
local-up: setup
	LAMBDA_COMPILER=cargo scripts/build-lambdas.sh $(LOCAL_LAMBDA_PROFILE)
	localstack/host/up.sh
	localstack/deploy.sh

local-down:
	localstack/host/down.sh

# The same deployment for machines with a Docker engine: LocalStack and MinIO from
# localstack/docker-compose.yml (not run in CI, which proves the Docker-free path above). The
# functions run in provided.al2023 containers, so they link with zig against an older glibc.
docker-up: setup
	scripts/build-lambdas.sh $(LOCAL_LAMBDA_PROFILE)
	localstack/docker-up.sh

docker-down:
	localstack/docker-up.sh down

# Everything CI runs: lint, infra checks, unit and handler tests, end-to-end tests (local
# directory and S3 server) checked by PyIceberg, the built Lambda artifacts under AWS's
# runtime interface emulator, the host Lambda executor inside LocalStack, and the deployed
# stack on LocalStack end to end.
#
# The zips and the tests come from one build: the `ci` profile for x86_64, linked by the host's
# toolchain (the zips only run on this machine), so the tests reuse the zips' dependencies
# instead of compiling polars, iceberg and the AWS SDK a second time.
CI_BUILD = --cargo-profile ci --target x86_64-unknown-linux-gnu
test: setup lint infra
	LAMBDA_COMPILER=cargo scripts/build-lambdas.sh ci
	localstack/host/install.sh
	localstack/host/.venv/bin/python -m pytest -q localstack/host/tests
	$(CARGO) nextest run --workspace --no-fail-fast $(CI_BUILD)

unit:
	$(CARGO) nextest run --workspace --lib

# Throughput, end-to-end time and peak memory per stage, release build (docs/benchmarks.md).
bench:
	$(CARGO) build --release --bin lakehouse
	$${CARGO_TARGET_DIR:-target}/release/lakehouse bench --orders 1000000

clean-lake:
	rm -rf lake
