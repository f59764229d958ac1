#!/usr/bin/env bash
# CI smoke test of the Docker image's steps, without Docker (it cannot run on these machines):
# copy what the Dockerfile COPYs into a fresh build folder, run its `pip install` in a fresh
# virtual environment, start the server with the Dockerfile's CMD (on 127.0.0.1 and a free
# port instead of 0.0.0.0:8000) and wait for /readyz. Exits non-zero on any failure.
#
#   scripts/docker_smoke.sh            # downloads the runtime dependencies from PyPI
#   SMOKE_SYSTEM_SITE=1 scripts/docker_smoke.sh   # reuse installed wheels (offline CI)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sepconv-smoke.XXXXXX")"
SERVER_PID=""

cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "docker_smoke: FAIL: $*" >&2; [[ -f "$WORK/server.log" ]] && tail -n 40 "$WORK/server.log" >&2; exit 1; }

cd "$ROOT"
# 1. the build context: exactly the Dockerfile's COPY sources
mkdir -p "$WORK/app"
COPIES="$(sed -n 's/^COPY[[:space:]]\+//p' Dockerfile)"
[[ -n "$COPIES" ]] || fail "no COPY lines in the Dockerfile"
while read -r line; do
    read -ra parts <<<"$line"
    n=${#parts[@]}
    dest="${parts[$((n - 1))]}"
    for src in "${parts[@]:0:$((n - 1))}"; do
        [[ -e "$src" ]] || fail "the Dockerfile copies $src, which does not exist"
        if [[ "$dest" == "./" ]]; then target="$WORK/app/"; else target="$WORK/app/${dest#./}"; fi
        mkdir -p "$(dirname "$target")"
        cp -r "$src" "$target"
    done
done <<<"$COPIES"
find "$WORK/app" -name __pycache__ -prune -exec rm -rf {} +

# 2. the install: the Dockerfile's `pip install` arguments, in a fresh venv
PIP_ARGS="$(sed -n 's/^RUN pip install \([^&]*\).*/\1/p' Dockerfile | head -n 1)"
[[ -n "$PIP_ARGS" ]] || fail "no 'RUN pip install' line in the Dockerfile"
VENV_OPTS=()
[[ "${SMOKE_SYSTEM_SITE:-0}" == "1" ]] && VENV_OPTS+=(--system-site-packages)
"$PYTHON" -m venv "${VENV_OPTS[@]}" "$WORK/venv"
echo "docker_smoke: pip install $PIP_ARGS"
(cd "$WORK/app" && eval "\"$WORK/venv/bin/pip\" install --disable-pip-version-check -q $PIP_ARGS") \
    || fail "pip install $PIP_ARGS failed"

# 3. the start: the Dockerfile's CMD, on loopback and a free port
PORT="$("$WORK/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mapfile -t CMD < <("$WORK/venv/bin/python" - "$PORT" <<'PY'
import json, re, sys
text = open("Dockerfile").read()
cmd = json.loads(re.search(r"^CMD\s+(\[.*\])\s*$", text, re.M).group(1))
for flag, value in (("--host", "127.0.0.1"), ("--port", sys.argv[1])):
    if flag in cmd:
        cmd[cmd.index(flag) + 1] = value
print("\n".join(cmd))
PY
)
[[ -x "$WORK/venv/bin/${CMD[0]}" ]] || fail "the image's CMD needs '${CMD[0]}', which the install did not provide"
echo "docker_smoke: starting ${CMD[*]}"
mkdir -p "$WORK/data" "$WORK/run"
(cd "$WORK/run" && SEPCONV_DATA_DIR="$WORK/data" exec "$WORK/venv/bin/${CMD[0]}" "${CMD[@]:1}") \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# 4. the HEALTHCHECK's probe: /readyz answers 200
for _ in $(seq 1 120); do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited"
    if curl -fsS "http://127.0.0.1:$PORT/readyz" >"$WORK/readyz.json" 2>/dev/null; then
        echo "docker_smoke: /readyz -> $(cat "$WORK/readyz.json")"
        curl -fsS "http://127.0.0.1:$PORT/v1/models" >/dev/null || fail "GET /v1/models failed"
        # the installed package must be the one serving (not the checkout)
        (cd "$WORK/run" && "$WORK/venv/bin/python" -c \
            "import sepconv.service as s, sys; sys.exit(0 if '$WORK' in s.__file__ else 1)") \
            || fail "the service was not imported from the fresh install"
        echo "docker_smoke: OK"
        exit 0
    fi
    sleep 0.5
done
fail "/readyz did not answer 200 within 60 s"
