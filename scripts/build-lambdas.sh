#!/usr/bin/env bash
# Builds the four Lambda artifacts in one workspace build with cargo-lambda (zig links against
# an older glibc than the host's: the binaries need GLIBC_2.30 at most, and provided.al2023 has
# 2.34), as zips under $CARGO_TARGET_DIR/lambda/, and reports each size.
# Usage: scripts/build-lambdas.sh [cargo profile, default release]
#   release: thin LTO, stripped (what ships); ci: no LTO, quicker to build (what CI deploys).
# LAMBDA_COMPILER=cargo links with the host's toolchain instead of zig: for artifacts that only
# run on this machine (the emulator and LocalStack's host executor in `make test`). Built on
# Debian 12 they need GLIBC_2.35, so they would not start on provided.al2023. Their build is
# the one `cargo nextest run --cargo-profile ci --target x86_64-unknown-linux-gnu` makes, so
# the tests reuse every compiled dependency; zig as the C compiler would make them differ.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-release}
compiler=${LAMBDA_COMPILER:-zig}
functions=(mock-api extractor transformer gold-builder maintainer)
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

# With the host toolchain this build is also the tests' (Makefile: CI_BUILD), as long as the
# workspace's tests (the CLI, dev-dependencies) add no feature to a dependency of the Lambdas:
# one that did would compile that crate and everything above it (polars, say) a second time.
if [ "$compiler" = cargo ]; then
    features() {
        cargo tree --target x86_64-unknown-linux-gnu -f '{p} {f}' --prefix none "$@" |
            sed 's/ (\*)$//' | sort -u
    }
    python3 - <(features "${packages[@]}" -e normal,build) \
        <(features --workspace -e normal,build,dev) <<'PY'
import sys
def features(path):
    """{"name version": {feature list, ...}} of the registry crates in a `cargo tree` listing."""
    found = {}
    for line in filter(str.strip, open(path)):  # blank lines part the trees of -p roots
        name, version, rest = (line.rstrip("\n").split(" ", 2) + [""])[:3]
        if not rest.startswith("(/"):  # workspace members are compiled anyway
            found.setdefault(f"{name} {version}", set()).add(rest.removeprefix("(proc-macro) "))
    return found
lambdas, tests = features(sys.argv[1]), features(sys.argv[2])
if not lambdas or not tests:
    sys.exit("build-lambdas: cargo tree listed no dependencies (see its error above)")
changed = [f"  {crate}: {sorted(lambdas[crate])} -> {sorted(tests[crate])}"
           for crate in sorted(lambdas) if tests.get(crate) != lambdas[crate]]
if changed:
    sys.exit("build-lambdas: the tests would enable other features of the Lambdas' dependencies,\n"
             "so `make test` would build them twice; give the workspace's entries the features\n"
             "the Lambdas use (Cargo.toml):\n" + "\n".join(changed))
PY
fi

cargo lambda build --compiler "$compiler" --profile "$profile" --x86-64 --output-format zip "${packages[@]}"

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
