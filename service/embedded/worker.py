"""The worker process's side of :mod:`.worker_pool`: run one task at a time, answer over the pipe.

Every failure becomes a message (``("error", kind, text)``), never a traceback; the worker exits
by itself when the server that started it is gone. The tasks are :data:`~sepconv.service.jobs.tasks.TASKS`, plus those
of a module named by the pool (tests use that for tasks that sleep or crash).

Jobs run under the pool's memory limit (:mod:`.memory_limit`); a job past it fails with kind
``memory`` ("the job needed more than N MB"), and the pool replaces the worker.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from sepconv.converter import SepconvError, first_line

from ..redact import hide_paths
from .memory_limit import StuckWatch, apply_job_memory_limit, memory_failure

#: how often a worker checks that the server that started it is still alive
PARENT_CHECK_S = 0.5

Task = Callable[[dict, Callable[..., None]], dict]


def exit_with_parent(parent_pid: int, interval: float = PARENT_CHECK_S) -> None:
    """Die as soon as the server process is gone (even SIGKILLed: nothing gets to stop us then).

    When the parent dies the worker is re-parented (to PID 1 or a subreaper), so ``os.getppid()``
    changes. A daemon thread polls it; ``os._exit`` ends the process whatever the main thread is
    busy with (ONNX Runtime and numpy release the GIL while they compute). Once the workers are
    gone, multiprocessing's resource tracker sees its pipe close and exits too.

    Not ``prctl(PR_SET_PDEATHSIG)``: Linux sends that signal when the *thread* that spawned the
    worker exits, and replacement workers are spawned from the supervisor or a request thread.
    """

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(interval)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def task_table(extra_tasks: str | None) -> dict[str, Task]:
    """The production tasks, plus the ``TASKS`` of the module ``extra_tasks`` names."""
    from ..jobs import tasks  # imports onnx, onnxruntime and the converter once, before the first job

    table = dict(tasks.TASKS)
    if extra_tasks:
        table.update(importlib.import_module(extra_tasks).TASKS)
    return table


def main(conn: Connection, parent_pid: int | None = None, extra_tasks: str | None = None,
         memory_mb: int | None = None) -> None:
    """The process's entry point: say ready, then answer jobs until told to stop or orphaned.
    ``memory_mb``: the memory limit the jobs run under (set after the imports, before any job)."""
    if parent_pid is not None:
        exit_with_parent(parent_pid)  # first: the imports below take seconds
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    table = task_table(extra_tasks)
    watch = None
    if memory_mb:
        apply_job_memory_limit(memory_mb)
        watch = StuckWatch(memory_mb)  # a job hung at the limit ends the process (EXIT_MEMORY)
    try:
        conn.send(("ready",))
    except OSError:
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if msg is None:
            return
        _job_id, task, payload = msg

        def progress(stage: str, fraction: float | None = None) -> None:
            conn.send(("progress", {"stage": stage, "fraction": fraction}))

        try:
            with watch.job() if watch else contextlib.nullcontext():
                answer = _answer(table, task, payload, progress)
        except BrokenPipeError:
            return  # the server is gone
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return  # the server is gone (or killed us mid-send): nobody to answer


def _answer(table: dict[str, Task], task: str, payload: dict, progress: Callable[..., None]) -> tuple:
    """Run one task; its result or its failure as the message the pool reads. A failure to
    allocate (past this process's memory limit) is kind ``memory``, naming the limit."""
    try:
        fn = table.get(task)
        if fn is None:
            raise SepconvError(f"unknown task {task!r}")
        return ("ok", fn(payload, progress))
    except BrokenPipeError:
        raise  # the server is gone: nobody to answer
    except Exception as exc:
        return _failure(exc)


def _failure(exc: Exception) -> tuple:
    """The pool's message for a task's exception (without the server's own paths)."""
    kind, message = _kind_and_message(exc)
    return ("error", kind, hide_paths(message))


def _kind_and_message(exc: Exception) -> tuple[str, str]:
    short = memory_failure(exc)
    if short is not None:
        return short.kind, str(short)
    if isinstance(exc, SepconvError):
        return exc.kind, str(exc)
    if isinstance(exc, OSError):
        return "internal", f"{type(exc).__name__}: {exc}"
    return "internal", f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__
