"""The job runner on its own: a crashing or overlong job fails alone, the others go on."""

from __future__ import annotations

import time

import pytest

from service.jobs import ProcessRunner, TaskError


@pytest.fixture(scope="module")
def runner():
    r = ProcessRunner(2, timeout_s=1.5, name="test-worker")
    yield r
    r.shutdown()


def _outcome(fut, timeout=30):
    try:
        return fut.result(timeout=timeout)
    except TaskError as exc:
        return exc


def test_crash_and_timeout_fail_alone(runner):
    crash = runner.submit("j-crash", "_crash", {"code": 7})
    slow = runner.submit("j-slow", "_sleep", {"seconds": 30})
    fine = [runner.submit(f"j-ok{i}", "_sleep", {"seconds": 0.05}) for i in range(4)]
    err = _outcome(crash)
    assert isinstance(err, TaskError) and err.kind == "crashed" and "exit code 7" in err.message
    err = _outcome(slow)
    assert isinstance(err, TaskError) and err.kind == "timeout" and "1.5 s" in err.message
    assert [_outcome(f) for f in fine] == [{"slept": 0.05}] * 4
    deadline = time.monotonic() + 20
    while not runner.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.alive()


def test_cancel_queued_and_running(runner):
    running = [runner.submit(f"j-run{i}", "_sleep", {"seconds": 1.0}) for i in range(2)]
    queued = runner.submit("j-queued", "_sleep", {"seconds": 0.01})
    deadline = time.monotonic() + 20
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
