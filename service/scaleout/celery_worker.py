"""What ``sepconv worker`` runs: a Celery worker (prefork pool) that runs the service's tasks.

The tasks are the embedded pool's own (:data:`~sepconv.service.jobs.tasks.TASKS`, answered through
:func:`~sepconv.service.embedded.worker._answer`, so failures read the same). A message holds sha256 keys; the worker
turns them into files of its own (the shared data directory, or downloads from the object
store), and files a conversion's output in the blob store before it answers, so the API only
records it. Workers never open the API's database: the result goes back through the broker.

A second delivery of a job that already succeeded answers the stored result without running it
again; a job cancelled while it waited never starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import uuid
from pathlib import Path

from celery import Celery, Task
from celery.signals import worker_process_init

from ..embedded import worker
from ..settings import Settings
from ..storage.blob_store import BlobStore, open_blob_store
from .celery_app import CANCEL_KEY, JOB_TASK, make_celery

log = logging.getLogger("sepconv.service.worker")

_state: dict = {}  # per worker process: the settings, the blob store and the task table


def register(app: Celery, settings: Settings) -> None:
    """Add the job task to ``app``; it runs with ``settings``' data directory and blob store."""
    _state["settings"] = settings

    @app.task(name=JOB_TASK, bind=True)
    def run_job(self: Task, job_id: str, task: str, payload: dict) -> dict:
        meta = self.backend.get_task_meta(job_id)
        if meta.get("status") == "SUCCESS":  # delivered again after it finished: no second run
            return meta["result"]
        if self.backend.client.exists(CANCEL_KEY.format(job_id)):
            return {"error": {"kind": "cancelled", "message": "the job was cancelled"}}

        def progress(stage: str, fraction: float | None = None) -> None:
            try:
                self.update_state(state="PROGRESS", meta={"stage": stage, "fraction": fraction})
            except Exception as exc:  # a progress note is not worth a job
                log.warning("job %s: progress not sent (%s)", job_id, exc)

        progress("running", 0.0)
        return execute(task, payload, progress)


def execute(task: str, payload: dict, progress) -> dict:
    """Run one of the service's tasks on blob keys: ``{"ok": result}`` or ``{"error": {kind, message}}``."""
    blobs = _blobs()
    scratch = _scratch()
    made: list[Path] = []
    try:
        local = _localize(task, payload, blobs, scratch, made)
        answer = worker._answer(_table(), task, local, progress)
        if answer[0] != "ok":
            return {"error": {"kind": answer[1], "message": answer[2]}}
        result = answer[1]
        if task == "convert" and result.get("sha256"):  # None: the conversion changed nothing, stored nothing
            made.remove(Path(local["output"]))
            blobs.adopt(Path(local["output"]), result["sha256"], keep_local=blobs.remote is None)
        elif task == "benchmark":
            result["host"] = host_info(payload.get("threads"))
        return {"ok": result}
    except KeyError as exc:
        return {"error": {"kind": "not_found", "message": f"a file of the job is missing from the blob store "
                                                          f"({exc.args[0]})"}}
    finally:
        for p in made:
            p.unlink(missing_ok=True)


def _localize(task: str, payload: dict, blobs: BlobStore, scratch: Path, made: list[Path]) -> dict:
    """The payload with its sha256 keys turned into local files (and an output path for a conversion)."""
    def local(sha: str | None) -> str | None:
        if sha is None:
            return None
        path, fetched = blobs.local_copy(sha, scratch)
        if fetched:
            made.append(path)
        return str(path)

    out = dict(payload)
    out["data"] = local(payload.get("data"))
    if task == "convert":
        out["source"] = local(payload["source"])
        out["output"] = str(scratch / f"out-{uuid.uuid4().hex}.onnx")
        made.append(Path(out["output"]))
    elif task == "benchmark":
        out["models"] = [local(m) for m in payload["models"]]
    else:
        raise KeyError(f"task {task!r} does not run on the workers")
    return out


def host_info(threads: int | None) -> dict:
    """Where a benchmark ran: host name, CPU model, the threads it used and the CPUs it had."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"name": socket.gethostname(), "cpu": cpu, "threads": threads or os.cpu_count(),
            "cpus": os.cpu_count()}


def _blobs() -> BlobStore:
    if "blobs" not in _state:
        _state["blobs"] = open_blob_store(_state["settings"])
    return _state["blobs"]


def _table() -> dict:
    if "table" not in _state:
        _state["table"] = worker.task_table(None)
    return _state["table"]


def _scratch() -> Path:
    """This process's scratch folder, beside the blobs (same filesystem) but not in the API's tmp/."""
    path = _state["settings"].data_dir / "worker-tmp" / f"{socket.gethostname()}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clear_stale_scratch(folder: Path) -> None:
    """Remove the scratch folders this host's pool processes left behind when they were killed
    (other hosts' folders, on a shared volume, are theirs to clear)."""
    prefix = f"{socket.gethostname()}-"
    for p in folder.glob(prefix + "*") if folder.is_dir() else ():
        pid = p.name[len(prefix):]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@worker_process_init.connect
def _process_init(**_: object) -> None:
    """In each pool process: die with the worker, import the tasks once, then apply the memory limit."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if "settings" not in _state:
        return
    _table()
    try:
        from ..embedded import memory_limit  # the per-job memory limit (SEPCONV_JOB_MEMORY_MB), as the embedded pool's
    except ImportError:
        return
    memory_limit.apply_job_memory_limit(memory_limit.job_memory_mb(processes=_state.get("concurrency", 1)))


def run_worker(settings: Settings, queues: list[str], concurrency: int) -> None:
    """Start the Celery worker in this process (returns when it stops)."""
    if not settings.broker_url:
        raise ValueError("a worker needs the broker: set SEPCONV_BROKER_URL=redis://host:port/db")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _clear_stale_scratch(settings.data_dir / "worker-tmp")
    app = make_celery(settings.broker_url, settings.job_timeout_s)
    register(app, settings)
    _state["concurrency"] = concurrency
    with contextlib.suppress(ImportError):
        from ..embedded.memory_limit import job_memory_mb

        job_memory_mb(processes=concurrency)  # a bad SEPCONV_JOB_MEMORY_MB stops the worker here, in one line
    app.worker_main(["worker", "-Q", ",".join(queues), "-c", str(concurrency), "-P", "prefork",
                     "-l", "INFO", "-n", f"sepconv-{os.getpid()}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"])
