#!/usr/bin/env bash
# Brings up the local AWS stack without Docker, on loopback only and offline:
#   - LocalStack (localstack-core, host process) on 127.0.0.1:4566 with the project's Lambda
#     executor (functions run as host processes), state under .localstack/;
#   - SeaweedFS on 127.0.0.1:8333 in MinIO's role: the S3 server that holds the lake, and its
#     Iceberg REST catalog on 127.0.0.1:8181 with the table bucket `lakehouse-tables`.
# Waits until both answer. Logs: .localstack/localstack.log, .localstack/s3.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${LAKEHOUSE_LOCAL_STATE:-$root/.localstack}
mkdir -p "$state"

"$here/install.sh"
venv=$here/.venv

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
# A port taken by anything but this stack would silently serve the wrong LocalStack or lake.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
refuse_busy() { # pidfile port what
    if ! running "$1" && ! port_free "$2"; then
        echo "local stack: port $2 ($3) is in use by another process; stop it (or that stack's down.sh) first" >&2
        exit 1
    fi
}
refuse_busy "$state/s3.pid" 8333 "S3 server"
refuse_busy "$state/s3.pid" 8181 "Iceberg REST catalog"
refuse_busy "$state/localstack.pid" 4566 LocalStack
wait_http() { # url seconds log
    for _ in $(seq 1 $(($2 * 5))); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "local stack: $1 did not answer within $2 s; last lines of $3:" >&2
    tail -n 30 "$3" >&2
    return 1
}

# The lake's S3 server, on 127.0.0.1 only, with one identity: the key pair of lake.env, which
# the deployed functions get as their lake credentials (MinIO's root user in docker-compose.yml).
weed=$root/.venv/bin/weed
[ -x "$weed" ] || { echo "local stack: $weed missing: run scripts/setup.sh" >&2; exit 1; }
# shellcheck source=../lake.env
. "$here/../lake.env"
if ! running "$state/s3.pid"; then
    mkdir -p "$state/s3"
    cat > "$state/s3-identities.json" <<JSON
{"identities": [{"name": "lake", "credentials": [{"accessKey": "$LAKE_ACCESS_KEY_ID", "secretKey": "$LAKE_SECRET_ACCESS_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
    # `weed mini` would also turn AWS_ACCESS_KEY_ID in its environment into an identity.
    nohup env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN "$weed" mini -dir="$state/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port=8333 \
        -s3.port.iceberg=8181 -tableBucket=lakehouse-tables \
        -s3.config="$state/s3-identities.json" -master.telemetry=false -admin.ui=false -webdav=false > "$state/s3.log" 2>&1 &
    echo $! > "$state/s3.pid"
fi

if ! running "$state/localstack.pid"; then
    mkdir -p "$state/fs" "$state/executor"
    (
        export OVERRIDE_IN_DOCKER=0 GATEWAY_LISTEN=127.0.0.1:4566 FILESYSTEM_ROOT="$state/fs"
        export DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 DNS_ADDRESS=0 AWS_EC2_METADATA_DISABLED=true
        export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
        export LAMBDA_RUNTIME_EXECUTOR=lakehouse-host LAKEHOUSE_EXECUTOR_DIR="$state/executor"
        cd "$state"
        nohup "$venv/bin/python" -m localstack.runtime.main > "$state/localstack.log" 2>&1 &
        echo $! > "$state/localstack.pid"
    )
fi

wait_http http://127.0.0.1:4566/_localstack/health 90 "$state/localstack.log"
# Any HTTP answer from S3 (anonymous requests are refused with 403) means it is serving.
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8333/ 2>/dev/null || true)
    [ "$code" != "000" ] && [ -n "$code" ] && break
    sleep 0.2
done
[ "$code" != "000" ] || { echo "local stack: S3 server did not start; see $state/s3.log" >&2; tail -n 30 "$state/s3.log" >&2; exit 1; }
# The Iceberg REST catalog answers a moment after S3 does.
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:8181/v1/config?warehouse=s3://lakehouse-tables" 2>/dev/null | grep -q lakehouse-tables && break
    sleep 0.2
done
echo "local stack: LocalStack on http://127.0.0.1:4566, S3 (lake) on http://127.0.0.1:8333, Iceberg REST catalog on http://127.0.0.1:8181, state in $state"
