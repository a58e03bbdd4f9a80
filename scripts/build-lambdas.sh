#!/usr/bin/env bash
# Builds the four Lambda artifacts in one workspace build with cargo-lambda (zig links against
# glibc 2.26, so the binaries run on provided.al2023), as zips under $CARGO_TARGET_DIR/lambda/,
# and reports each size. Usage: scripts/build-lambdas.sh [cargo profile, default release]
#   release: thin LTO, stripped (what ships); ci: no LTO, quicker to build (what CI deploys).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-release}
functions=(mock-api extractor transformer gold-builder)
export PATH="$PWD/.venv/bin:$PATH"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
command -v cargo-lambda >/dev/null || { echo "cargo-lambda missing: run scripts/setup.sh" >&2; exit 1; }

# The light functions must stay light: no polars, no iceberg in their dependency trees.
for light in mock-api extractor; do
    if cargo tree -p "$light" -e normal --prefix none | grep -Eq '^(polars|iceberg-rust) '; then
        echo "build-lambdas: $light depends on polars or iceberg-rust; it must not" >&2
        exit 1
    fi
done

packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done
cargo lambda build --profile "$profile" --x86-64 --output-format zip "${packages[@]}"

# Sizes as Lambda sees them: the zip uploaded and the bootstrap unpacked (250 MB limit).
python3 - "$CARGO_TARGET_DIR/lambda" "${functions[@]}" <<'PY'
import os, sys, zipfile
root, names = sys.argv[1], sys.argv[2:]
print(f"{'function':<14}{'zipped':>12}{'unzipped':>12}")
for name in names:
    path = os.path.join(root, name, "bootstrap.zip")
    if not os.path.exists(path):
        sys.exit(f"build-lambdas: {path} was not produced")
    unzipped = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
    print(f"{name:<14}{os.path.getsize(path) / 2**20:>9.1f} MB{unzipped / 2**20:>9.1f} MB")
PY
