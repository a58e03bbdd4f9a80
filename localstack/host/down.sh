#!/usr/bin/env bash
# Stops what up.sh started: LocalStack, the functions it ran, and the S3 server. Data stays in
# .localstack/ (remove it for a clean slate).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${LAKEHOUSE_LOCAL_STATE:-$root/.localstack}

stop_pid() { # pidfile name
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
        echo "local stack: stopped $2"
    fi
    rm -f "$1"
}

stop_pid "$state/localstack.pid" LocalStack
# Function processes outlive an abruptly killed LocalStack (they have their own process groups).
for pidfile in "$state"/executor/*/pids/*; do
    [ -e "$pidfile" ] || continue
    kill -9 -- "-$(basename "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
done
stop_pid "$state/s3.pid" "S3 server"
