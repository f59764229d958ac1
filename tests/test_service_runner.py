"""The job runner on its own: a crashing or overlong job fails alone, the others go on; and
its workers never outlive the server."""

from __future__ import annotations

import signal
import time

import psutil
import pytest
from machine import scaled
from sepconv.service.embedded.worker_pool import REPLACE_GRACE_S, ProcessRunner, TaskError
from sepconv.service.jobs.tasks import TASKS
from service_fixtures import Server, alive, conv_model, upload


@pytest.fixture(scope="module")
def runner():
    r = ProcessRunner(2, timeout_s=1.5, name="test-worker", extra_tasks="service_fixtures")
    yield r
    r.shutdown()


def _outcome(fut, timeout=30):
    try:
        return fut.result(timeout=scaled(timeout))
    except TaskError as exc:
        return exc


def test_crash_and_timeout_fail_alone(runner):
    crash = runner.submit("j-crash", "crash", {"code": 7})
    slow = runner.submit("j-slow", "sleep", {"seconds": 30})
    fine = [runner.submit(f"j-ok{i}", "sleep", {"seconds": 0.05}) for i in range(4)]
    err = _outcome(crash)
    assert isinstance(err, TaskError) and err.kind == "crashed" and "exit code 7" in err.message
    err = _outcome(slow)
    assert isinstance(err, TaskError) and err.kind == "timeout" and "1.5 s" in err.message
    assert [_outcome(f) for f in fine] == [{"slept": 0.05}] * 4
    deadline = time.monotonic() + scaled(20)
    while not runner.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.alive()


def test_a_worker_waiting_for_its_replacement_is_not_a_pool_down():
    """A worker that died reads alive until REPLACE_GRACE_S has passed without its replacement (a
    loaded machine delays the supervisor: /readyz must not flap to 503 on every memory kill); past
    that, the pool reads down. The supervisor is held off by holding the pool's lock."""
    pool = ProcessRunner(1, timeout_s=5, name="grace-worker")
    try:
        first = pool._slots[0].proc
        with pool._lock:  # the supervisor cannot replace the worker while this is held
            first.kill()
            first.join(timeout=scaled(10))
            assert not first.is_alive() and pool.alive()
            pool._slots[0].dead_since = time.monotonic() - REPLACE_GRACE_S - 1
            assert not pool.alive()
        deadline = time.monotonic() + scaled(20)
        while pool._slots[0].proc is first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pool._slots[0].proc is not first and pool.alive()  # replaced: ready again
    finally:
        pool.shutdown()


def test_deaths_at_the_memory_limit_are_memory_failures(runner):
    """A worker that its memory watch ended (86), or glibc's loader when a new thread's thread-local data
    did not fit under the limit (127), failed its job for memory, naming the limit; other deaths crashed."""
    for code in (86, 127):
        err = _outcome(runner.submit(f"j-exit{code}", "crash", {"code": code}))
        assert isinstance(err, TaskError) and err.kind == "memory", (code, err.kind, err.message)
        assert err.message == f"the job needed more than {runner.memory_mb} MB (SEPCONV_JOB_MEMORY_MB)"
    err = _outcome(runner.submit("j-exit126", "crash", {"code": 126}))
    assert err.kind == "crashed" and "exit code 126" in err.message


def test_cancel_queued_and_running(runner):
    running = [runner.submit(f"j-run{i}", "sleep", {"seconds": 1.0}) for i in range(2)]
    queued = runner.submit("j-queued", "sleep", {"seconds": 0.01})
    deadline = time.monotonic() + scaled(20)
    while runner.status("j-run0") != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runner.status("j-queued") == "queued"
    assert runner.cancel("j-queued")
    assert runner.cancel("j-run0")
    assert _outcome(queued).kind == "cancelled"
    assert _outcome(running[0]).kind == "cancelled"
    assert _outcome(running[1]) == {"slept": 1.0}
    assert not runner.cancel("j-unknown")
    assert runner.status("j-run1") is None


def test_user_errors_come_back_as_messages(runner):
    err = _outcome(runner.submit("j-bad", "no_such_task", {}))
    assert isinstance(err, TaskError) and err.kind == "invalid" and "unknown task" in err.message


def test_production_tasks_only():
    """The tasks above come from the tests; the service's own table holds the real ones only."""
    assert sorted(TASKS) == ["benchmark", "check_data", "convert", "validate_dataset", "validate_model"]


def test_workers_die_with_the_server(tmp_path):
    """SIGKILL the server with a long job running: its worker processes (and multiprocessing's
    resource tracker) exit within seconds instead of running on, re-parented to PID 1."""
    srv = Server(tmp_path / "data", workers=1).start()
    children: list[psutil.Process] = []
    try:
        with srv.client() as c:
            mid = upload(c, "/v1/models", conv_model(cin=32, cout=64, hw=256, seed=31), "long.onnx").json()["id"]
            job = c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 10000}).json()["id"]
            deadline = time.monotonic() + scaled(30)
            while c.get(f"/v1/jobs/{job}").json()["state"] != "running" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.get(f"/v1/jobs/{job}").json()["state"] == "running"
        assert srv.proc is not None
        children = psutil.Process(srv.proc.pid).children(recursive=True)
        assert len(children) >= 2, children  # the worker and the upload validator, at least
        srv.stop(signal.SIGKILL)
        deadline = time.monotonic() + scaled(8)  # the job alone would run for a minute or more
        while alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(children)
        assert not left, [(p.pid, p.name(), p.cmdline()[-2:]) for p in left]
    finally:
        srv.stop()
        for p in alive(children):  # never leave a busy orphan behind, even when the test fails
            p.kill()
