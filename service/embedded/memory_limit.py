"""A memory limit for every process that runs jobs: the embedded pool's workers, the validator,
and the Celery workers, which call the same two functions.

The mechanism is ``RLIMIT_DATA`` (``setrlimit``), not ``RLIMIT_AS``: since Linux 4.7 it bounds a
process's private writable memory (heap, anonymous ``mmap``, thread stacks), which is what a job's
tensors and ONNX Runtime's arena are made of, and leaves out what only reserves address space.
That matters: an idle worker has imported numpy, onnx and ONNX Runtime and reserves ~290 MB of
address space for ~65 MB resident, and each ONNX Runtime thread adds a 64 MB malloc arena
reservation (a 16-thread session took a worker to 1.3 GB of address space for 110 MB resident),
so an address-space limit would depend on the core count rather than on the job. Past the limit an
allocation fails: numpy raises ``MemoryError`` and ONNX Runtime its "Failed to allocate memory";
:func:`memory_failure` recognises both (also when the converter has wrapped them) and says
"the job needed more than N MB (SEPCONV_JOB_MEMORY_MB)". The process should then be replaced.

Two failures do not raise. When ONNX Runtime cannot start a thread of a session's pool (its stack
counts against the limit), session creation deadlocks in a ``pthread_join`` instead. A
:class:`StuckWatch` thread notices that (a job running, the process's data within
:data:`STUCK_SLACK_MB` of the limit, no CPU used for :data:`STUCK_S`) and ends the process with
:data:`EXIT_MEMORY`. And when a thread did start but glibc cannot allocate its thread-local data
(ONNX Runtime is loaded with ``dlopen``, so its ``thread_local`` variables are allocated on a thread's
first use of them), the dynamic loader prints "cannot allocate memory for thread-local data: ABORT"
and ends the process with :data:`EXIT_LOADER` (127). Which of the two happens depends on how the
threads' start-ups interleave, so it varies with the machine's load. :func:`died_of_memory` names
both exit statuses, and the pool reports either as the same memory failure.

Usage, in any process that runs jobs (a Celery worker: in ``worker_process_init``)::

    limit = job_memory_mb(processes=concurrency)
    apply_job_memory_limit(limit)
    watch = StuckWatch(limit)                 # optional: on_stuck=... instead of exiting
    ...
    with watch.job():
        try:
            run the job
        except Exception as exc:
            failure = memory_failure(exc)     # None when it was not a memory failure
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from sepconv.converter import SepconvError

ENV = "SEPCONV_JOB_MEMORY_MB"
#: the default: this fraction of the machine's (or the container's) memory, shared by the processes
DEFAULT_FRACTION = 0.8
#: ... and never less than this
DEFAULT_FLOOR_MB = 512
#: below this a worker cannot even hold its imports (~130 MB of private data when idle)
MIN_MB = 256
MB = 1 << 20
#: the exit status of a worker ended by :class:`StuckWatch`
EXIT_MEMORY = 86
#: the exit status of a process that glibc's dynamic loader ended (``_dl_fatal_printf``); in a worker
#: whose imports are done, that is a thread's thread-local data not fitting under the limit
EXIT_LOADER = 127
#: "at the limit": the process's data within this of it (a thread stack is 8 MB)
STUCK_SLACK_MB = 64
#: ... with no CPU used for this long, while a job runs
STUCK_S = 2.0
#: how allocation failures read, once the converter has put them into words
_SIGNS = ("failed to allocate memory", "bad_alloc", "unable to allocate", "out of memory",
          "cannot allocate memory", "memoryerror")


class MemoryLimitExceeded(SepconvError):
    """A job that needed more memory than its process may have (kind ``memory``)."""

    def __init__(self, megabytes: int | None) -> None:
        super().__init__(limit_message(megabytes), "memory")
        self.megabytes = megabytes


def died_of_memory(exit_code: int | None) -> bool:
    """Did a job process that ran under the limit end with a status that means its memory ran out?
    :data:`EXIT_MEMORY` (its :class:`StuckWatch`) or :data:`EXIT_LOADER` (glibc's loader)."""
    return exit_code in (EXIT_MEMORY, EXIT_LOADER)


def limit_message(megabytes: int | None) -> str:
    """``the job needed more than 512 MB (SEPCONV_JOB_MEMORY_MB)``."""
    if megabytes is None:
        return "the job ran out of memory"
    return f"the job needed more than {megabytes} MB ({ENV})"


def machine_memory_mb() -> int:
    """The memory this process may use: the machine's, or its cgroup's limit where that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(f).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total // MB


def default_job_memory_mb(processes: int) -> int:
    """80% of the machine's memory shared by ``processes`` job processes, at least 512 MB."""
    return max(DEFAULT_FLOOR_MB, int(machine_memory_mb() * DEFAULT_FRACTION / max(processes, 1)))


def job_memory_mb(processes: int, environ: Mapping[str, str] = os.environ) -> int:
    """``SEPCONV_JOB_MEMORY_MB``, or the default for ``processes`` job processes. A bad value is a
    one-line ``ValueError`` that names the variable."""
    text = (environ.get(ENV) or "").strip()
    if not text:
        return default_job_memory_mb(processes)
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{ENV}={text!r}: expected a whole number of megabytes") from None
    if value < MIN_MB:
        raise ValueError(f"{ENV}={text!r}: must be at least {MIN_MB}")
    return value


def apply_job_memory_limit(megabytes: int) -> None:
    """Bound this process's private memory (``RLIMIT_DATA``) to ``megabytes``, from now on.

    Call it once per process, after the imports and before the first job. It sets the soft
    limit only (never above the hard one), so a later call may change it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    soft = megabytes * MB
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def current_limit_mb() -> int | None:
    """The limit this process runs under (None: none)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_DATA)
    return None if soft == resource.RLIM_INFINITY else soft // MB


def is_memory_failure(exc: BaseException) -> bool:
    """A ``MemoryError``, or an error whose words (or those of the error it replaced: the converter
    raises its one-line errors ``from None``, which keeps the original as ``__context__``) say an
    allocation failed."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, MemoryError):
            return True
        text = str(e).lower()
        if any(s in text for s in _SIGNS):
            return True
        e = e.__cause__ or e.__context__
    return False


def memory_failure(exc: BaseException, megabytes: int | None = None) -> MemoryLimitExceeded | None:
    """The error to report when ``exc`` is a memory failure (naming ``megabytes``, by default this
    process's limit); None when it is not one."""
    if isinstance(exc, MemoryLimitExceeded):
        return exc
    if not is_memory_failure(exc):
        return None
    return MemoryLimitExceeded(megabytes if megabytes is not None else current_limit_mb())


def data_mb() -> int:
    """This process's private data (``VmData``, what ``RLIMIT_DATA`` bounds), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) // 1024
    return 0


class StuckWatch:
    """A daemon thread that ends the process (``on_stuck``, by default ``os._exit(EXIT_MEMORY)``)
    when a job sits at the memory limit without using any CPU: an allocation failure that hangs
    instead of raising. Wrap each job in :meth:`job`."""

    def __init__(self, megabytes: int, on_stuck: Callable[[], None] | None = None,
                 interval: float = 0.25, stuck_s: float = STUCK_S) -> None:
        self.megabytes, self.interval, self.stuck_s = megabytes, interval, stuck_s
        self.on_stuck = on_stuck or (lambda: os._exit(EXIT_MEMORY))
        self._busy = threading.Event()
        threading.Thread(target=self._watch, name="memory-watch", daemon=True).start()

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        self._busy.set()
        try:
            yield
        finally:
            self._busy.clear()

    def _watch(self) -> None:
        still, cpu = 0.0, _cpu_s()
        while True:
            self._busy.wait()
            time.sleep(self.interval)
            now = _cpu_s()
            idle = now - cpu < 0.1 * self.interval
            cpu = now
            if self._busy.is_set() and idle and data_mb() >= self.megabytes - STUCK_SLACK_MB:
                still += self.interval
                if still >= self.stuck_s:
                    self.on_stuck()
                    still = 0.0
            else:
                still = 0.0


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system
