"""The Celery runner's faults, each with real parts: a redis-server with its append-only file on,
two real ``sepconv worker`` processes (one job at a time each) and the API in a subprocess.

A worker process killed mid-conversion (the job is delivered again and its model filed once),
Redis restarted with jobs queued (none lost), the API restarted while a worker converts (the
result is filed after the restart), cancel of a queued and of a running job, a job past its time
limit, and the broker unreachable (503 and not ready, not a hang; what was accepted still runs).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import time

import pytest
from machine import scaled
from service_fixtures import Redis, Server, Worker, alive, conv_model, upload, wait_job

#: the job time limit here: a slow conversion takes ~5 s on an idle core (more on a loaded one: the limit follows
#: the machine, as a redelivered job must finish within it), a long benchmark forever
TIMEOUT_S = round(scaled(30))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("celery")
    broker = Redis(base / "redis").start()
    env = {"SEPCONV_BROKER_URL": broker.url, "SEPCONV_JOB_TIMEOUT_S": str(TIMEOUT_S)}
    workers = [Worker(broker.url, base / "data", env=env, name=f"worker{i}").start() for i in range(2)]
    srv = Server(base / "data", env=env).start()
    parts = {"broker": broker, "workers": workers, "server": srv}
    yield parts
    parts["server"].stop()
    for w in workers:
        w.stop()
    broker.stop()


@pytest.fixture
def client(stack):
    with stack["server"].client() as c:
        yield c


def _model(client, seed: int, hw: int = 96) -> str:
    """A model whose conversion takes a few seconds (256 -> 256 channels, verified in ONNX Runtime)."""
    r = upload(client, "/v1/models", conv_model(cin=256, cout=256, hw=hw, seed=seed), f"slow{seed}.onnx")
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _wait_state(client, job_id: str, states: tuple[str, ...], timeout: float = 30) -> dict:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} not {states} in {timeout} s: {job}")


def _converted_from(client, model_id: str) -> list[dict]:
    return [m for m in client.get("/v1/models", params={"limit": 1000}).json()["items"]
            if m["parent_id"] == model_id]


def _long_benchmark(client, seed: int) -> str:
    mid = upload(client, "/v1/models", conv_model(cin=32, cout=64, hw=256, seed=seed), f"long{seed}.onnx").json()["id"]
    r = client.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 10_000})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_worker_killed_mid_conversion(stack, client):
    """kill -9 of the process converting: the job is delivered again, completes, its model filed once."""
    mid = _model(client, 1)
    job_id = client.post(f"/v1/models/{mid}/conversions", json={"method": "depthwise"}).json()["id"]
    job = _wait_state(client, job_id, ("running",))
    deadline = time.monotonic() + scaled(30)
    while job["progress"]["stage"] == "running" and time.monotonic() < deadline:  # into the converter
        time.sleep(0.02)
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "running", job
    pool = [p for w in stack["workers"] for p in w.children()]
    for p in pool:  # the one converting and the idle one: the job cannot have been anywhere else
        p.send_signal(signal.SIGKILL)
    done = wait_job(client, job_id, timeout=90)
    assert done["state"] == "succeeded", done
    assert not alive(pool)
    assert [m["id"] for m in _converted_from(client, mid)] == [done["result"]["model_id"]]
    assert client.get(f"/v1/models/{done['result']['model_id']}/file").status_code == 200


def test_second_delivery_of_a_finished_job(stack, client):
    """The same message again after the job succeeded: the worker answers the stored result at once,
    runs nothing, and the API's record and models stay as they were."""
    from sepconv.service.scaleout.celery_app import JOB_TASK, make_celery

    mid = _model(client, 5, hw=16)
    job_id = client.post(f"/v1/models/{mid}/conversions", json={"rank": 1}).json()["id"]
    done = wait_job(client, job_id)
    assert done["state"] == "succeeded", done
    app = make_celery(stack["broker"].url, TIMEOUT_S)
    stored = app.backend.get_task_meta(job_id)["result"]
    sha = client.get(f"/v1/models/{mid}").json()["sha256"]
    payload = {"source": sha, "source_name": "again.onnx", "data": None, "data_name": None,
               "options": done["params"]["options"]}
    app.send_task(JOB_TASK, args=[job_id, "convert", payload], task_id=job_id, queue="convert")
    pattern = re.compile(rf"Task sepconv\.job\[{job_id}\] succeeded in ([0-9.e-]+)s")
    deadline = time.monotonic() + scaled(20)
    while time.monotonic() < deadline:
        runs = [float(x) for w in stack["workers"] for x in pattern.findall(w.log.read_text())]
        if len(runs) == 2:
            break
        time.sleep(0.1)
    assert len(runs) == 2 and min(runs) < max(runs) / 4, runs  # the conversion takes ~0.2 s, the answer ~0.01 s
    assert app.backend.get_task_meta(job_id)["result"] == stored
    assert client.get(f"/v1/jobs/{job_id}").json() == done and len(_converted_from(client, mid)) == 1


def test_cancel_queued_and_running(stack, client):
    """Both workers busy, one job waiting: the waiting one never starts, the running one's process is stopped."""
    running = [_long_benchmark(client, 10 + i) for i in range(2)]
    for j in running:
        _wait_state(client, j, ("running",))
    mid = _model(client, 2, hw=16)
    queued = client.post(f"/v1/models/{mid}/conversions", json={"rank": 1}).json()["id"]
    assert client.get(f"/v1/jobs/{queued}").json()["state"] == "queued"
    _check_message(stack["broker"].url, queued)
    busy = [p for w in stack["workers"] for p in w.children()]
    out = client.delete(f"/v1/jobs/{queued}").json()
    assert out["state"] == "failed" and out["error"]["kind"] == "cancelled" and out["started"] is None, out
    for j in running:
        out = client.delete(f"/v1/jobs/{j}").json()
        assert out["state"] == "failed" and out["error"]["kind"] == "cancelled", out
    deadline = time.monotonic() + scaled(15)
    while alive(busy) and time.monotonic() < deadline:  # the processes that ran them were killed
        time.sleep(0.05)
    assert not alive(busy)
    after = wait_job(client, client.post(f"/v1/models/{mid}/conversions", json={"rank": 2}).json()["id"])
    assert after["state"] == "succeeded", after  # the workers took the next job
    time.sleep(scaled(0.5))  # time for a wrongly kept message to be taken
    job = client.get(f"/v1/jobs/{queued}").json()
    assert job["started"] is None and job["error"]["kind"] == "cancelled" and len(_converted_from(client, mid)) == 1


def _check_message(broker_url: str, job_id: str) -> None:
    """The waiting job's message: JSON, holding ids, sha256 keys and options; no paths, no bytes."""
    import redis

    raw = [json.loads(m) for m in redis.Redis.from_url(broker_url).lrange("convert", 0, -1)]
    mine = [m for m in raw if m["headers"]["id"] == job_id]
    assert len(mine) == 1 and mine[0]["content-type"] == "application/json", raw
    args, _kwargs, _embed = json.loads(base64.b64decode(mine[0]["body"]))
    assert args[:2] == [job_id, "convert"]
    payload = args[2]
    assert re.fullmatch(r"[0-9a-f]{64}", payload["source"]) and "output" not in payload, payload
    assert "/" not in json.dumps(payload) and len(mine[0]["body"]) < 2000, payload


def test_time_limit(client):
    job_id = _long_benchmark(client, 20)
    t0 = time.monotonic()
    job = wait_job(client, job_id, timeout=TIMEOUT_S + 30)
    assert job["state"] == "failed" and job["error"]["kind"] == "timeout", job
    assert f"{TIMEOUT_S} s" in job["error"]["message"] and time.monotonic() - t0 >= TIMEOUT_S - 1


def test_api_restarted_while_a_worker_converts(stack):
    srv = stack["server"]
    with srv.client() as c:
        mid = _model(c, 3)
        job_id = c.post(f"/v1/models/{mid}/conversions", json={"method": "spatial"}).json()["id"]
        _wait_state(c, job_id, ("running",))
    srv.stop(signal.SIGKILL)
    time.sleep(1.0)
    srv.start()
    with srv.client() as c:
        done = wait_job(c, job_id, timeout=60)
        assert done["state"] == "succeeded", done
        assert [m["id"] for m in _converted_from(c, mid)] == [done["result"]["model_id"]]


def test_redis_restarted_with_jobs_queued(stack, client):
    mids = [_model(client, 30 + i, hw=48 if i < 2 else 16) for i in range(6)]
    jobs = [client.post(f"/v1/models/{m}/conversions", json={"rank": 2}).json()["id"] for m in mids]
    assert sum(client.get(f"/v1/jobs/{j}").json()["state"] == "queued" for j in jobs) >= 3
    stack["broker"].stop()
    stack["broker"].start()
    done = [wait_job(client, j, timeout=90) for j in jobs]
    assert [d["state"] for d in done] == ["succeeded"] * 6, [d["error"] for d in done]


_TAKE_AND_DIE = """
import os, sys
from kombu import Connection
with Connection(sys.argv[1]) as conn:
    message = conn.default_channel.basic_get("convert", no_ack=False)
    assert message is not None and message.headers["id"] == sys.argv[2], message
    os._exit(0)  # like a worker cut off from the broker: the message stays in kombu's unacked hash
"""


@pytest.mark.parametrize("api_restarts", [False, True])
def test_redis_restart_strands_no_job(tmp_path, api_restarts):
    """A job a worker took but lost with its connection, and a job whose message the broker lost:
    after Redis restarts (with the API, or under it), both run at once, not after the visibility
    timeout (the time limit + 60 s); the taken one from kombu's unacked hash, which ends empty."""
    import subprocess
    import sys

    import redis

    broker = Redis(tmp_path / "redis").start()
    env = {"SEPCONV_BROKER_URL": broker.url, "SEPCONV_JOB_TIMEOUT_S": str(TIMEOUT_S)}
    srv = Server(tmp_path / "data", env=env).start()
    worker = Worker(broker.url, tmp_path / "data", env=env)
    try:
        with srv.client() as c:
            mids = [_model(c, 40 + i, hw=16) for i in range(2)]
            taken, dropped = (c.post(f"/v1/models/{m}/conversions", json={"rank": 1}).json()["id"] for m in mids)
            subprocess.run([sys.executable, "-c", _TAKE_AND_DIE, broker.url, taken], check=True, timeout=60)
            r = redis.Redis.from_url(broker.url)
            assert [json.loads(m)["headers"]["id"] for m in r.lrange("convert", 0, -1)] == [dropped]
            assert r.hlen("unacked") == 1
            r.delete("convert")  # the broker lost this message (e.g. no append-only file)
            r.close()
        if api_restarts:
            srv.stop()
        broker.stop()
        broker.start()
        if api_restarts:
            srv.start()
        worker.start()
        t0, soon = time.monotonic(), min(scaled(30), TIMEOUT_S + 45)  # well before the visibility timeout
        with srv.client() as c:
            done = [wait_job(c, j, timeout=30) for j in (taken, dropped)]
        assert [d["state"] for d in done] == ["succeeded"] * 2, done
        assert time.monotonic() - t0 < soon
        r = redis.Redis.from_url(broker.url)
        assert r.hlen("unacked") == 0 and r.llen("convert") == 0  # restored, not left there and sent again
        r.close()
    finally:
        srv.stop()
        worker.stop()
        broker.stop()


def test_broker_unreachable(stack, client):
    """Broker down: a new job is a JSON 503 at once, /readyz says why; an accepted job still runs after."""
    mid = _model(client, 4, hw=16)
    accepted = client.post(f"/v1/models/{mid}/conversions", json={"rank": 1}).json()["id"]
    stack["broker"].stop()
    try:
        t0 = time.monotonic()
        r = client.post(f"/v1/models/{mid}/conversions", json={"rank": 2})
        assert r.status_code == 503 and r.json()["error"] == "unavailable", r.text
        assert "broker" in r.json()["message"] and time.monotonic() - t0 < 10
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["broker_reachable"] is False
        assert "broker" in ready.json()["reason"]
        assert client.get("/healthz").status_code == 200
    finally:
        stack["broker"].start()
    assert wait_job(client, accepted, timeout=60)["state"] == "succeeded"
    assert client.get("/readyz").status_code == 200
    assert len([j for j in client.get("/v1/jobs", params={"limit": 1000}).json()["items"]
                if j["params"].get("model_id") == mid]) == 1


def test_stale_scratch_cleared(tmp_path):
    """A worker starting clears what this host's killed pool processes left, not live ones or other hosts'."""
    import socket

    from sepconv.service.scaleout.celery_worker import _clear_stale_scratch

    host = socket.gethostname()
    dead = 4_000_000  # above pid_max: no such process
    for name in (f"{host}-{dead}", f"{host}-{os.getpid()}", f"other-host-{dead}"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "out-x.onnx").write_bytes(b"partial")
    _clear_stale_scratch(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{host}-{os.getpid()}", f"other-host-{dead}"])


def test_bad_settings_are_one_line(tmp_path, monkeypatch):
    """A broker or blob URL of the wrong kind stops the server at startup naming the variable; a
    worker without a broker says what to set."""
    import subprocess
    import sys

    from sepconv.service.settings import Settings

    for var, value in (("SEPCONV_BROKER_URL", "amqp://localhost"), ("SEPCONV_BLOB_URL", "/srv/blobs")):
        monkeypatch.setenv(var, value)
        with pytest.raises(ValueError, match=f"^{var}="):
            Settings.from_env()
        monkeypatch.delenv(var)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEPCONV_")}
    r = subprocess.run([sys.executable, "-m", "sepconv", "worker", "--data-dir", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "SEPCONV_BROKER_URL" in r.stderr, r.stderr
