# sepconv's REST service, and its Celery workers (the same image, command `sepconv worker`).
# Build: docker build -t sepconv .
# Run:   docker run -p 8000:8000 -v sepconv-data:/data [-e SEPCONV_API_KEY=...] sepconv
# Scale out: docker-compose.yml (API, conversion worker, benchmark worker, Redis).
# CI: scripts/docker_smoke.sh builds and runs this image; scripts/compose_test.sh the whole stack.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEPCONV_DATA_DIR=/data \
    SEPCONV_HOST=0.0.0.0 \
    SEPCONV_PORT=8000

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin sepconv \
    && mkdir -p /data && chown sepconv:sepconv /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY converter ./converter
COPY sepconv ./sepconv
COPY service ./service
# runtime dependencies only (no test, plot or train extras)
RUN pip install --no-compile ".[service]" && rm -rf /app/build

USER sepconv
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status == 200 else 1)"
CMD ["sepconv", "serve", "--host", "0.0.0.0", "--port", "8000"]
