"""The worker pool: CPU-bound work in a bounded set of worker processes, off the event loop.

Why not ``ProcessPoolExecutor``: when one of its workers dies the whole pool breaks and every
pending job fails with it, and a job past its time limit cannot be stopped. Here each worker is
a long-lived process fed one job at a time over a pipe; a supervisor thread watches them, kills
a worker whose job runs past its deadline, notices one that died, marks that job failed and
starts a replacement, and the other jobs go on. (What runs inside a worker is :mod:`.worker`.)
Each worker runs its jobs under a memory limit (:mod:`.memory_limit`); a job past it fails with
kind ``memory`` and its worker is replaced too, so the next job starts in a fresh process.

Why not ``pebble``'s ``ProcessPool``, which has per-job timeouts, cancel and replaces a worker
that dies mid-job: a worker that dies while *no* job runs (the OOM killer, say) breaks its whole
pool, so every later job fails; a result that cannot be unpickled breaks it too; and it has no way
for a running job to report progress or for the server to learn when a job leaves the queue, which
the job records need. Those would take side channels as large as this module.

The job queue and the validator only see :class:`Runner` (submit, status, cancel), so a
distributed queue can take this one's place without touching them.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any, Protocol

from . import worker
from .memory_limit import died_of_memory, job_memory_mb, limit_message

log = logging.getLogger("sepconv.service.jobs")
#: Seconds a dead worker may wait for its replacement before the pool reads as down (``alive``).
REPLACE_GRACE_S = 5.0

ProgressHook = Callable[[str, dict], None]
StartHook = Callable[[str], None]


class TaskError(Exception):
    """Why a job did not produce a result: ``kind`` is a converter error kind, or one of
    ``timeout``, ``crashed``, ``cancelled``, ``memory``, ``internal``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Runner(Protocol):
    """What the service needs from a job queue."""

    def submit(self, job_id: str, task: str, payload: dict) -> Future: ...

    def status(self, job_id: str) -> str | None: ...  # "queued", "running" or None (unknown / done)

    def cancel(self, job_id: str) -> bool: ...

    def queued(self) -> int: ...

    def alive(self) -> bool: ...

    def shutdown(self) -> None: ...


@dataclass
class _Job:
    job_id: str
    task: str
    payload: dict
    timeout_s: float
    future: Future = field(default_factory=Future)


class _Slot:
    """One worker process and the job it is running."""

    def __init__(self, ctx: Any, name: str, extra_tasks: str | None, memory_mb: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker.main, args=(child, os.getpid(), extra_tasks, memory_mb), name=name,
                                daemon=True)
        self.proc.start()
        child.close()
        self.job: _Job | None = None
        self.deadline = 0.0
        self.ready = False  # the worker says so once its imports are done; deadlines start after that
        self.dead_since: float | None = None  # when ``alive`` first found the process gone

    def stop(self, kill: bool = False) -> None:
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(timeout=0.5 if kill else 2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=2)
        self.conn.close()


class ProcessRunner:
    """A bounded pool of worker processes with per-job timeouts and crash isolation."""

    def __init__(self, workers: int, timeout_s: float, name: str = "sepconv-worker",
                 on_start: StartHook | None = None, on_progress: ProgressHook | None = None,
                 extra_tasks: str | None = None, memory_mb: int | None = None) -> None:
        """``extra_tasks``: a module whose ``TASKS`` the workers run besides the service's own (tests).
        ``memory_mb``: each worker's memory limit (default: ``SEPCONV_JOB_MEMORY_MB``, else a share
        of the machine's memory for ``workers`` processes; see :func:`.memory_limit.job_memory_mb`)."""
        self._ctx = mp.get_context("spawn")  # never fork a process that runs threads and an event loop
        self.memory_mb = memory_mb if memory_mb is not None else job_memory_mb(workers)
        self._name = name
        self._extra_tasks = extra_tasks
        self._timeout_s = timeout_s
        self._on_start = on_start
        self._on_progress = on_progress
        self._queue: deque[_Job] = deque()
        self._lock = threading.RLock()
        self._done: list[tuple[Future, Any]] = []  # outcomes decided under the lock, delivered outside it
        self._stopping = threading.Event()
        self._slots = [self._new_slot(i) for i in range(workers)]
        self._thread = threading.Thread(target=self._loop, name=f"{name}-supervisor", daemon=True)
        self._thread.start()

    # -- the interface --------------------------------------------------------------------------
    def submit(self, job_id: str, task: str, payload: dict) -> Future:
        job = _Job(job_id, task, payload, self._timeout_s)
        with self._lock:
            self._queue.append(job)
        return job.future

    def status(self, job_id: str) -> str | None:
        with self._lock:
            if any(s.job and s.job.job_id == job_id for s in self._slots):
                return "running"
            if any(j.job_id == job_id for j in self._queue):
                return "queued"
        return None

    def cancel(self, job_id: str) -> bool:
        """Drop a queued job, or kill the worker running it (a fresh one takes its place)."""
        with self._lock:
            for j in list(self._queue):
                if j.job_id == job_id:
                    self._queue.remove(j)
                    self._done.append((j.future, TaskError("cancelled", "the job was cancelled")))
                    break
            else:
                for i, s in enumerate(self._slots):
                    if s.job and s.job.job_id == job_id:
                        self._replace(i, TaskError("cancelled", "the job was cancelled while running"))
                        break
                else:
                    return False
        self._deliver()
        return True

    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def alive(self) -> bool:
        """The supervisor runs and every worker lives, or died less than REPLACE_GRACE_S ago: the
        supervisor replaces a dead worker on its next step, which a loaded machine may delay, and a
        worker stopped at its memory limit is not a service that cannot take work."""
        with self._lock:
            now = time.monotonic()
            for s in self._slots:
                if s.proc.is_alive():
                    s.dead_since = None
                elif s.dead_since is None:
                    s.dead_since = now
            return self._thread.is_alive() and all(s.dead_since is None or now - s.dead_since < REPLACE_GRACE_S
                                                   for s in self._slots)

    def shutdown(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            for s in self._slots:
                busy = s.job is not None
                if s.job is not None:
                    self._done.append((s.job.future, TaskError("interrupted", "the server stopped while the job ran")))
                    s.job = None
                s.stop(kill=busy)
            for j in self._queue:
                self._done.append((j.future, TaskError("interrupted", "the server stopped before the job ran")))
            self._queue.clear()
        self._deliver()

    # -- the supervisor -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception:  # the supervisor must outlive any one bad job
                log.exception("job supervisor step failed")
                time.sleep(0.1)

    def _step(self) -> None:
        started: list[str] = []
        with self._lock:
            for s in self._slots:
                if not s.ready:
                    self._check_ready(s)
                if s.job is None and s.ready and self._queue:
                    job = self._queue.popleft()
                    try:
                        s.conn.send((job.job_id, job.task, job.payload))
                    except (OSError, ValueError):
                        self._queue.appendleft(job)
                        continue
                    s.job, s.deadline = job, time.monotonic() + job.timeout_s
                    started.append(job.job_id)
            waitables: list[Any] = []
            for s in self._slots:
                if s.job is not None or not s.ready:
                    waitables += [s.conn, s.proc.sentinel]
        for job_id in started:
            self._hook(self._on_start, job_id)
        wait(waitables, timeout=0.05) if waitables else time.sleep(0.05)
        progress: list[tuple[str, dict]] = []
        with self._lock:
            for i, s in enumerate(self._slots):
                if s.job is None:
                    if not s.proc.is_alive():  # an idle worker died: replace it quietly
                        self._replace(i, None)
                    continue
                outcome = self._drain(s, progress)
                if outcome is not None:
                    job, s.job = s.job, None
                    self._done.append((job.future, outcome if isinstance(outcome, TaskError) else outcome[1]))
                    if isinstance(outcome, TaskError) and outcome.kind == "memory":
                        self._replace(i, None)  # what a failed allocation leaves behind goes with it
                elif not s.proc.is_alive():
                    self._replace(i, self._death(s.proc.exitcode))
                elif time.monotonic() > s.deadline:
                    self._replace(i, TaskError("timeout", f"the job ran past the time limit of "
                                                          f"{s.job.timeout_s:g} s and was stopped"))
        for job_id, p in progress:
            self._hook(self._on_progress, job_id, p)
        self._deliver()

    def _deliver(self) -> None:
        """Resolve futures outside the lock, so their callbacks may call back into the runner."""
        with self._lock:
            done, self._done = self._done, []
        for fut, outcome in done:
            if fut.done():
                continue
            if isinstance(outcome, BaseException):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)

    @staticmethod
    def _check_ready(s: _Slot) -> None:
        try:
            if s.conn.poll() and s.conn.recv() == ("ready",):
                s.ready = True
        except (EOFError, OSError):
            pass  # died while starting: the liveness check replaces it

    def _drain(self, s: _Slot, progress: list) -> tuple | TaskError | None:
        """Read what the worker sent: progress notes, then maybe its result."""
        assert s.job is not None
        try:
            while s.conn.poll():
                msg = s.conn.recv()
                if msg[0] == "progress":
                    progress.append((s.job.job_id, msg[1]))
                elif msg[0] == "ok":
                    return msg
                else:
                    return TaskError(msg[1], msg[2])
        except (EOFError, OSError):
            return None  # the worker is gone; the liveness check reports it
        except Exception as exc:  # a result that cannot be unpickled
            return TaskError("internal", f"the worker's answer could not be read ({type(exc).__name__})")
        return None

    def _replace(self, i: int, error: TaskError | None) -> None:
        """Kill slot i's worker (failing its job with ``error``) and start a fresh one. Lock held."""
        s = self._slots[i]
        if s.job is not None and error is not None:
            self._done.append((s.job.future, error))
        s.job = None
        s.stop(kill=True)
        if not self._stopping.is_set():
            self._slots[i] = self._new_slot(i)

    def _death(self, code: int | None) -> TaskError:
        """Why a worker died mid-job: at its memory limit (its exit status says so), or a crash."""
        if died_of_memory(code):
            return TaskError("memory", limit_message(self.memory_mb))
        return TaskError("crashed", f"the worker process died while running the job "
                                    f"(exit code {code}{_signal_name(code)})")

    def _new_slot(self, i: int) -> _Slot:
        return _Slot(self._ctx, f"{self._name}-{i}", self._extra_tasks, self.memory_mb)

    @staticmethod
    def _hook(fn: Callable | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            log.exception("job hook failed")


def _signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f", killed by {signal.Signals(-code).name}"
        except ValueError:
            return ""
    return ""
