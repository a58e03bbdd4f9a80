#!/usr/bin/env bash
# The local stack on Docker (docker-compose.yml: LocalStack + MinIO), then the same deploy as the
# Docker-free path, pointed at it: the functions reach MinIO as http://minio:9000 on the compose
# network, and LocalStack's DNS resolves the source API's Function URL name inside containers.
# Needs a Docker engine with the compose plugin; run scripts/build-lambdas.sh first (make docker-up).
# usage: localstack/docker-up.sh [Parameter=Value ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
compose=(docker compose -f "$here/docker-compose.yml" --env-file "$here/lake.env")
case "${1:-}" in
    down) exec "${compose[@]}" down ;;
esac
"${compose[@]}" up -d --wait
LAKE_S3_ENDPOINT=http://127.0.0.1:9000 "$here/deploy.sh" \
    S3EndpointUrl=http://minio:9000 SourceApiResolve= CatalogUri= "$@"
