#!/usr/bin/env bash
# CI smoke test of the Docker image, with real Docker: build the image, run it, wait until its
# HEALTHCHECK says healthy, check it does not run as root, convert a model through its API, restart
# the container and find both models again (the data volume keeps them). Exits non-zero on failure.
#
#   scripts/docker_smoke.sh                 # needs a running Docker engine
#   ../shared/docker/base-images.sh python:3.11-slim   # on machines without Docker Hub, first
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TAG="${SMOKE_TAG:-sepconv:smoke}"
NAME="sepconv-smoke-$$"
VOLUME="sepconv-smoke-$$"
MODEL="$ROOT/sample_models/digits_small.onnx"

cleanup() {
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    docker volume rm "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "docker_smoke: FAIL: $*" >&2; docker logs --tail 40 "$NAME" >&2 2>/dev/null || true; exit 1; }
field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

command -v docker >/dev/null || fail "docker is not installed"
docker info >/dev/null 2>&1 || fail "the Docker engine is not running"

echo "docker_smoke: docker build -t $TAG"
docker build -q -t "$TAG" "$ROOT" >/dev/null || fail "docker build failed"

start() {  # run (or restart) and wait for the HEALTHCHECK; sets URL
    for _ in $(seq 1 120); do
        status="$(docker inspect -f '{{.State.Health.Status}}' "$NAME" 2>/dev/null || echo gone)"
        [[ "$status" == healthy ]] && break
        [[ "$(docker inspect -f '{{.State.Running}}' "$NAME")" == true ]] || fail "the container exited"
        sleep 1
    done
    [[ "$status" == healthy ]] || fail "not healthy within 120 s (status: $status)"
    URL="http://127.0.0.1:$(docker port "$NAME" 8000/tcp | head -n 1 | sed 's/.*://')"
}

docker run -d --name "$NAME" -p 127.0.0.1::8000 -v "$VOLUME:/data" \
    --health-interval=1s --health-start-period=60s "$TAG" >/dev/null || fail "docker run failed"
start
echo "docker_smoke: healthy at $URL"
uid="$(docker exec "$NAME" id -u)"
[[ "$uid" != 0 ]] || fail "the service runs as root"
echo "docker_smoke: runs as uid $uid"

mid="$(curl -fsS -F "file=@$MODEL" "$URL/v1/models" | field '["id"]')" || fail "upload failed"
job="$(curl -fsS -H 'content-type: application/json' -d '{"method": "depthwise"}' \
    "$URL/v1/models/$mid/conversions" | field '["id"]')" || fail "the conversion was not accepted"
for _ in $(seq 1 240); do
    state="$(curl -fsS "$URL/v1/jobs/$job" | field '["state"]')"
    [[ "$state" == succeeded || "$state" == failed ]] && break
    sleep 0.5
done
[[ "$state" == succeeded ]] || fail "the conversion ended $state: $(curl -fsS "$URL/v1/jobs/$job")"
converted="$(curl -fsS "$URL/v1/jobs/$job" | field '["result"]["model_id"]')"
sha="$(curl -fsS "$URL/v1/models/$converted" | field '["sha256"]')"
echo "docker_smoke: converted $mid -> $converted"

docker restart "$NAME" >/dev/null || fail "docker restart failed"
start
for id in "$mid" "$converted"; do
    curl -fsS "$URL/v1/models/$id" >/dev/null || fail "model $id is gone after the restart"
done
got="$(curl -fsS "$URL/v1/models/$converted/file" | sha256sum | cut -d' ' -f1)"
[[ "$got" == "$sha" ]] || fail "the converted model's file changed across the restart"
echo "docker_smoke: OK (both models and the file kept across a restart)"
