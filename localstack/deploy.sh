#!/usr/bin/env bash
# Deploys the real template.yaml to the local stack (localstack/host/up.sh, or docker-compose)
# with `samlocal deploy --config-env local`, using the artifacts of scripts/build-lambdas.sh.
# Creates the lake's bucket on the S3 server first.
# usage: localstack/deploy.sh [Parameter=Value ...]   e.g. ScheduleEnabled=false
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=${LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}
lake_s3=${LAKE_S3_ENDPOINT:-http://127.0.0.1:8333}
lambda_dir=${CARGO_TARGET_DIR:-$root/target}/lambda

curl -fsS -o /dev/null "$AWS_ENDPOINT_URL/_localstack/health" || {
    echo "deploy: LocalStack is not answering at $AWS_ENDPOINT_URL: run localstack/host/up.sh" >&2; exit 1; }

# The lake's bucket, on the S3 server (not on LocalStack), with the server's own keys.
# shellcheck source=lake.env
. "$root/localstack/lake.env"
AWS_ENDPOINT_URL=$lake_s3 AWS_ACCESS_KEY_ID=$LAKE_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$LAKE_SECRET_ACCESS_KEY \
    python tests/s3_bucket.py lakehouse

python localstack/built_template.py template.yaml "$lambda_dir" .aws-sam/build/template.yaml
# Extra "Key=Value" arguments override single parameters of samconfig's local environment
# (sam replaces the whole list when given one on the command line).
overrides=$(python - "LakeAccessKeyId=$LAKE_ACCESS_KEY_ID" "LakeSecretAccessKey=$LAKE_SECRET_ACCESS_KEY" "$@" <<'PY'
import shlex, sys, tomllib
local = tomllib.load(open("samconfig.toml", "rb"))["local"]["deploy"]["parameters"]
params = dict(p.split("=", 1) for p in shlex.split(local["parameter_overrides"]))
for arg in sys.argv[1:]:
    if "=" not in arg:
        sys.exit(f"deploy: {arg!r} is not Parameter=Value")
    params.update([arg.split("=", 1)])
print(" ".join(f'{k}="{v}"' for k, v in params.items()))
PY
)
samlocal deploy --config-env local --config-file "$root/samconfig.toml" \
    --template-file .aws-sam/build/template.yaml --parameter-overrides "$overrides" \
    --no-fail-on-empty-changeset 2>&1 | tr '\r' '\n' | grep -v '^[[:space:]]*Uploading to'
