"""What the app's routes use, built once per app (``app.state.services``) and closed with it.

The only place that knows how the stores, the worker pools, the artifacts and the job queue fit
together; everything else gets what it uses from here.
"""

from __future__ import annotations

from .embedded.worker_pool import ProcessRunner, Runner
from .jobs.job_queue import JobQueue
from .jobs.validator import Validator
from .settings import Settings
from .storage.artifacts import Artifacts
from .storage.blob_store import open_blob_store
from .storage.owner import claim
from .storage.retention import Retention
from .storage.sqlite_store import SqliteStore


class Services:
    """The stores, the worker pools, and the artifacts, jobs and retention built on them."""

    def __init__(self, settings: Settings) -> None:
        self.owner = claim(settings.data_dir)  # one API process per data directory, before any write
        try:
            self._start(settings)
        except BaseException:
            self.owner.release()
            raise

    def _start(self, settings: Settings) -> None:
        self.settings = settings
        self.blobs = open_blob_store(settings)
        self.blobs.clear_tmp()
        self.db = SqliteStore(settings.data_dir / "sepconv.db")
        self.runner = self._runner(settings)
        # uploads are parsed by a separate worker, so they are not stuck behind long conversions
        self.validator = Validator(ProcessRunner(1, min(settings.job_timeout_s, 600.0), "sepconv-validator",
                                                  memory_mb=settings.job_memory_limit_mb()))
        self.artifacts = Artifacts(self.db, self.blobs, self.validator)
        self.jobs = JobQueue(self.db, self.blobs, self.artifacts, self.runner, settings.max_queued_jobs)
        self.retention = Retention(self.db, self.artifacts, settings.retention_days, settings.retention_interval_s)

    def _runner(self, settings: Settings) -> Runner:
        """The embedded worker pool, or Celery workers on other machines when a broker is set."""
        if settings.broker_url:
            from .scaleout.celery_runner import CeleryRunner  # imports celery only when it is used

            return CeleryRunner(settings.broker_url, settings.job_timeout_s,
                                on_start=self.db.mark_running, on_progress=self.db.set_progress)
        return ProcessRunner(settings.workers, settings.job_timeout_s, "sepconv-worker",
                             on_start=self.db.mark_running, on_progress=self.db.set_progress,
                             memory_mb=settings.job_memory_limit_mb())

    def readiness(self) -> dict[str, bool]:
        """Can the service take work: the database and the data directory take writes, the workers live
        (with Celery: the broker answers; the workers may come and go, jobs wait for them)."""
        checks = {"store_writable": self.db.writable(), "files_writable": self.blobs.writable()}
        if self.settings.broker_url:
            checks["workers_alive"] = self.validator.runner.alive()
            checks["broker_reachable"] = self.runner.alive()
        else:
            checks["workers_alive"] = self.runner.alive() and self.validator.runner.alive()
        return checks

    def not_ready_reason(self, checks: dict[str, bool]) -> str | None:
        """Why the service is not ready, in words (None when it is)."""
        words = {"store_writable": _because("the job database cannot be written", self.db.problem),
                 "files_writable": _because("the data directory cannot be written", self.blobs.problem),
                 "workers_alive": "a worker process is down",
                 "broker_reachable": getattr(self.runner, "problem", None) or "the job broker cannot be reached"}
        failed = [words[k] for k, ok in checks.items() if not ok]
        return "; ".join(failed) or None

    def close(self) -> None:
        self.runner.shutdown()
        self.validator.runner.shutdown()
        self.db.close()
        self.owner.release()


def _because(what: str, problem: str | None) -> str:
    return f"{what} ({problem})" if problem else what
