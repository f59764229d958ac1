"""The :class:`~sepconv.service.embedded.worker_pool.Runner` for the scale-out: jobs on Celery workers through Redis.

Chosen when SEPCONV_BROKER_URL is set; the routes, the job queue and the job store do not
change. The API publishes a job (its id, the task name and a payload of sha256 keys) and a
supervisor thread follows every job it published in the result backend: the first progress
note marks it running, progress notes go to the job record, the result or failure resolves its
future. The API's SQLite store stays the one record of every job; workers only write to Redis
and the blob store.

Jobs outlive the API (``durable``): after a restart the job queue hands the jobs its store still
has as queued or running to :meth:`CeleryRunner.resume`, which follows them again, and publishes
only those that never reached the broker. A broker that cannot be reached makes :meth:`submit`
raise :class:`~sepconv.service.jobs.job_queue.RunnerUnavailable` (the API answers 503), not hang. When the broker
restarts, the jobs it stranded on workers are put back in the queue (:mod:`.broker_rescue`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

import redis

from ..embedded.worker_pool import ProcessRunner, ProgressHook, StartHook, TaskError
from ..jobs.job_queue import RunnerUnavailable
from .broker_rescue import broker_started, rescue
from .celery_app import CANCEL_KEY, JOB_TASK, KEEP_S, QUEUES, SENT_KEY, make_celery

log = logging.getLogger("sepconv.service.jobs")

#: publishing: a stale connection is retried at once, a broker that is down fails within seconds
_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


@dataclass
class _Tracked:
    job_id: str
    task: str
    payload: dict
    sent: bool = False
    state: str = "queued"
    progress: Any = None
    future: Future = field(default_factory=Future)


class CeleryRunner:
    """Jobs on Celery workers; progress and outcomes read back from the result backend."""

    durable = True  # jobs go on while the API restarts; recovery resumes them instead of failing them

    def __init__(self, broker_url: str, timeout_s: float, on_start: StartHook | None = None,
                 on_progress: ProgressHook | None = None, poll_s: float = 0.02) -> None:
        self._app = make_celery(broker_url, timeout_s)
        self._backend = self._app.backend
        self._redis = redis.Redis.from_url(broker_url, socket_timeout=3, socket_connect_timeout=2)
        self._timeout_s, self._poll_s = timeout_s, poll_s
        self._on_start, self._on_progress = on_start, on_progress
        self._jobs: dict[str, _Tracked] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.problem: str | None = None  # why the broker cannot be used right now
        self._broker_run: str | None = None  # the Redis server's run id when last looked at
        self._resumed = False  # jobs were resumed after our own restart: look for stranded ones once
        self._next_look = 0.0
        self._thread = threading.Thread(target=self._loop, name="sepconv-celery-supervisor", daemon=True)
        self._thread.start()

    # -- the interface --------------------------------------------------------------------------
    def submit(self, job_id: str, task: str, payload: dict) -> Future:
        """Publish a new job; RunnerUnavailable (nothing published, nothing followed) when the broker is down."""
        t = _Tracked(job_id, task, payload)
        try:
            self._redis.ping()
            self._publish(t)
        except Exception as exc:
            raise RunnerUnavailable(self._down(exc)) from None
        with self._lock:
            self._jobs[job_id] = t
        return t.future

    def resume(self, job_id: str, task: str, payload: dict) -> Future:
        """Follow a job published before a restart (or publish it, if it never reached the broker)."""
        t = _Tracked(job_id, task, payload)
        with self._lock:
            self._jobs[job_id] = t
            self._resumed = True
        self._ensure_sent(t)
        return t.future

    def status(self, job_id: str) -> str | None:
        with self._lock:
            t = self._jobs.get(job_id)
            return t.state if t else None

    def cancel(self, job_id: str) -> bool:
        """Mark the job cancelled for the workers (a queued one never starts) and stop its process."""
        with self._lock:
            t = self._jobs.get(job_id)
        if t is None:
            return False
        try:
            self._redis.set(CANCEL_KEY.format(job_id), 1, ex=KEEP_S)
            self._app.control.revoke(job_id, terminate=True, signal="SIGKILL")
        except Exception as exc:
            raise RunnerUnavailable(self._down(exc)) from None
        running = t.state == "running"
        self._finish(t, TaskError("cancelled", "the job was cancelled while running" if running
                                  else "the job was cancelled"))
        return True

    def queued(self) -> int:
        with self._lock:
            return sum(t.state == "queued" for t in self._jobs.values())

    def alive(self) -> bool:
        """The broker answers (workers may come and go; jobs wait for them in the queue)."""
        try:
            self._redis.ping()
        except Exception as exc:
            self._down(exc)
            return False
        self.problem = None
        return self._thread.is_alive()

    def shutdown(self) -> None:
        """Stop following jobs; they go on on the workers and a restarted API resumes them."""
        self._stopping.set()
        self._thread.join(timeout=5)
        with self._lock:
            left, self._jobs = list(self._jobs.values()), {}
        for t in left:
            _resolve(t.future, TaskError("interrupted", "the server stopped while following the job"))
        self._redis.close()

    # -- publishing -----------------------------------------------------------------------------
    def _publish(self, t: _Tracked) -> None:
        self._app.send_task(JOB_TASK, args=[t.job_id, t.task, t.payload], task_id=t.job_id,
                            queue=QUEUES[t.task], time_limit=self._timeout_s, retry=True, retry_policy=_RETRY)
        self._redis.set(SENT_KEY.format(t.job_id), 1, ex=KEEP_S)
        t.sent = True

    def _ensure_sent(self, t: _Tracked) -> None:
        """Publish a resumed job unless the broker has it already; retried by the supervisor while down."""
        try:
            if self._redis.exists(SENT_KEY.format(t.job_id)):
                t.sent = True
            else:
                self._publish(t)
        except Exception as exc:
            self._down(exc)

    def _down(self, exc: BaseException) -> str:
        self.problem = f"the job broker cannot be reached ({type(exc).__name__}: {str(exc)[:200]})"
        return self.problem + "; try again later"

    # -- the supervisor -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except (redis.RedisError, OSError) as exc:
                self._down(exc)
                time.sleep(0.5)
            except Exception:  # the supervisor must outlive any one bad result
                log.exception("job supervisor step failed")
                time.sleep(0.5)
            self._stopping.wait(self._poll_s)

    def _step(self) -> None:
        with self._lock:
            followed = list(self._jobs.values())
        if not followed:
            self._after_restart(None)  # keep up with restarts while idle
            return
        for t in followed:
            if not t.sent:
                self._ensure_sent(t)
        values = self._redis.mget([self._backend.get_key_for_task(t.job_id) for t in followed])
        self.problem = None
        for t, value in zip(followed, values):
            if value is not None:
                self._apply(t, self._backend.decode(value))
        self._after_restart({t.job_id: t for t, value in zip(followed, values) if value is None and t.sent})

    def _after_restart(self, waiting: dict[str, _Tracked] | None) -> None:
        """When the broker is new to us (it restarted), or we resumed jobs after our own restart,
        return the jobs it stranded: messages workers took before the server started.

        The cutoff is the server's start (its uptime is in whole seconds, so the upper end of that
        second): what a live worker took since is left alone, and a worker's clock a second off
        changes nothing. Servers that do not report a run id (some Redis-compatible services) are
        not watched; their stranded jobs wait for the visibility timeout, as before.
        """
        if time.monotonic() < self._next_look:  # once a second, not on every poll
            return
        self._next_look = time.monotonic() + 1.0
        run_id, started = broker_started(self._redis)
        if run_id is None or (run_id == self._broker_run and not self._resumed):
            return
        if waiting:
            try:
                _, lost = rescue(self._app, set(waiting), started, set(QUEUES.values()))
                for job_id in lost:
                    self._publish(waiting[job_id])
            except Exception as exc:  # the broker went away mid-rescue: try again at the next look
                log.warning("returning stranded jobs to the queue failed (%s); trying again", exc)
                return
        if waiting is None:  # idle: note the server, unless resumed jobs are yet to be looked at
            if not self._resumed:
                self._broker_run = run_id
            return
        self._broker_run, self._resumed = run_id, False  # only once the rescue went through

    def _apply(self, t: _Tracked, meta: dict) -> None:
        """One job's state in the result backend: progress, or its outcome."""
        status, result = meta.get("status"), meta.get("result")
        if status in ("PROGRESS", "STARTED", "SUCCESS") and t.state == "queued":
            t.state = "running"
            ProcessRunner._hook(self._on_start, t.job_id)
        if status == "PROGRESS" and result != t.progress:
            t.progress = result
            ProcessRunner._hook(self._on_progress, t.job_id, result)
        elif status == "SUCCESS":
            self._finish(t, _outcome(result))
        elif status == "FAILURE":
            self._finish(t, self._failure(result))
        elif status == "REVOKED":
            self._finish(t, TaskError("cancelled", "the job was cancelled"))

    def _failure(self, exc: Any) -> TaskError:
        kind = exc.get("exc_type", "") if isinstance(exc, dict) else ""
        if kind == "TimeLimitExceeded":
            return TaskError("timeout", f"the job ran past the time limit of {self._timeout_s:g} s and was stopped")
        message = exc.get("exc_message", exc) if isinstance(exc, dict) else exc
        return TaskError("internal", f"the worker failed: {kind or 'error'} {str(message)[:300]}")

    def _finish(self, t: _Tracked, outcome: Any) -> None:
        with self._lock:
            if self._jobs.get(t.job_id) is not t:
                return
            del self._jobs[t.job_id]
        _resolve(t.future, outcome)


def _outcome(result: Any) -> Any:
    """The worker's answer: ``{"ok": result}`` or ``{"error": {kind, message}}``."""
    if isinstance(result, dict) and "ok" in result:
        return result["ok"]
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        return TaskError(result["error"].get("kind", "internal"), result["error"].get("message", ""))
    return TaskError("internal", "the worker's answer could not be read")


def _resolve(fut: Future, outcome: Any) -> None:
    """Settle a future once (a cancel and a late result may both try)."""
    with contextlib.suppress(InvalidStateError):
        (fut.set_exception if isinstance(outcome, BaseException) else fut.set_result)(outcome)
