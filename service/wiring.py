"""What the app's routes use, built once per app (``app.state.services``) and closed with it.

The only place that knows how the stores, the worker pools, the artifacts and the job queue fit
together; everything else gets what it uses from here.
"""

from __future__ import annotations

from .artifacts import Artifacts
from .blob_store import BlobStore
from .job_queue import JobQueue
from .retention import Retention
from .settings import Settings
from .sqlite_store import SqliteStore
from .validator import Validator
from .worker_pool import ProcessRunner


class Services:
    """The stores, the worker pools, and the artifacts, jobs and retention built on them."""

    def __init__(self, settings: Settings) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.blobs = BlobStore(settings.data_dir)
        self.blobs.clear_tmp()
        self.db = SqliteStore(settings.data_dir / "sepconv.db")
        self.runner = ProcessRunner(settings.workers, settings.job_timeout_s, "sepconv-worker",
                                    on_start=self.db.mark_running, on_progress=self.db.set_progress)
        # uploads are parsed by a separate worker, so they are not stuck behind long conversions
        self.validator = Validator(ProcessRunner(1, min(settings.job_timeout_s, 600.0), "sepconv-validator"))
        self.artifacts = Artifacts(self.db, self.blobs, self.validator)
        self.jobs = JobQueue(self.db, self.blobs, self.artifacts, self.runner, settings.max_queued_jobs)
        self.retention = Retention(self.db, self.artifacts, settings.retention_days, settings.retention_interval_s)

    def readiness(self) -> dict[str, bool]:
        """Can the service take work: the database and the data directory take writes, the workers live."""
        return {"store_writable": self.db.writable(), "files_writable": self.blobs.writable(),
                "workers_alive": self.runner.alive() and self.validator.runner.alive()}

    def close(self) -> None:
        self.runner.shutdown()
        self.validator.runner.shutdown()
        self.db.close()
