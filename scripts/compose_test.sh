#!/usr/bin/env bash
# CI test of docker-compose.yml with real Docker: bring the whole stack up (Redis, API, conversion
# worker, benchmark worker), convert through the API container on the worker container, then kill
# the worker container in the middle of a conversion and start it again: the job still completes
# (its message comes back once the broker's visibility timeout, job time limit + 60 s, has passed).
# Works with `docker compose` (v2) and Debian's docker-compose 1.29. Exits non-zero on failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROJECT="sepconv-ci-$$"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sepconv-compose.XXXXXX")"
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
COMPOSE+=(-p "$PROJECT" -f "$ROOT/docker-compose.yml")
PYTHON="${PYTHON:-python3}"

export SEPCONV_PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SEPCONV_JOB_TIMEOUT_S=30  # so a killed worker's job comes back after 90 s, not half an hour
URL="http://127.0.0.1:$SEPCONV_PORT"

cleanup() {
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "compose_test: FAIL: $*" >&2; "${COMPOSE[@]}" logs --tail 30 >&2 2>/dev/null || true; exit 1; }
field() { "$PYTHON" -c "import json, sys; print(json.load(sys.stdin)$1)"; }
job_state() { curl -fsS "$URL/v1/jobs/$1" | field "$2"; }
wait_job() {  # job id, seconds: waits until it finishes, prints its state
    local state=""
    for _ in $(seq 1 $(($2 * 2))); do
        state="$(job_state "$1" '["state"]')"
        [[ "$state" == succeeded || "$state" == failed ]] && break
        sleep 0.5
    done
    echo "$state"
}
convert() {  # model file, options: prints the job id
    local mid
    mid="$(curl -fsS -F "file=@$1" "$URL/v1/models" | field '["id"]')" || fail "upload of $1 failed"
    curl -fsS -H 'content-type: application/json' -d "$2" "$URL/v1/models/$mid/conversions" | field '["id"]'
}

echo "compose_test: ${COMPOSE[*]} up -d --build"
"${COMPOSE[@]}" up -d --build >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "compose up failed"; }
for _ in $(seq 1 120); do curl -fsS "$URL/readyz" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "$URL/readyz" || fail "the API is not ready"
echo

# 1. a conversion through the API container, run by the worker container
job="$(convert sample_models/digits_small.onnx '{"method": "depthwise"}')"
[[ "$(wait_job "$job" 120)" == succeeded ]] || fail "conversion $job: $(curl -fsS "$URL/v1/jobs/$job")"
"${COMPOSE[@]}" logs worker >"$WORK/worker.log" 2>&1
grep -q "$job" "$WORK/worker.log" || fail "the worker container did not run $job"
echo "compose_test: $job converted on the worker container"

# 2. kill the worker container in the middle of a conversion; start it again; the job completes
"$PYTHON" -c "import sys; sys.path.insert(0, 'devtools'); from local_stack import conv_model; \
open('$WORK/slow.onnx', 'wb').write(conv_model(cin=256, cout=256, hw=160, seed=7))"
job="$(convert "$WORK/slow.onnx" '{"method": "depthwise"}')"
for _ in $(seq 1 240); do
    [[ "$(job_state "$job" '["progress"]["stage"]')" =~ ^(queued|running)$ ]] || break
    sleep 0.25
done
[[ "$(job_state "$job" '["state"]')" == running ]] || fail "$job was not running: $(curl -fsS "$URL/v1/jobs/$job")"
"${COMPOSE[@]}" kill -s SIGKILL worker >/dev/null 2>&1 || fail "could not kill the worker container"
echo "compose_test: killed the worker container while $job ran ($(job_state "$job" '["progress"]'))"
sleep 2
[[ "$(job_state "$job" '["state"]')" == running ]] || fail "$job ended without a worker"
"${COMPOSE[@]}" start worker >/dev/null 2>&1 || fail "could not start the worker container again"
state="$(wait_job "$job" $((SEPCONV_JOB_TIMEOUT_S + 60 + 120)))"
[[ "$state" == succeeded ]] || fail "$job ended $state after the worker came back: $(curl -fsS "$URL/v1/jobs/$job")"
echo "compose_test: OK ($job completed after the worker container was killed and started again)"
