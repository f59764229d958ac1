"""The job manager: ties the store, the files and the runner together.

Routes ask it to validate uploads, queue jobs and cancel them; it turns ids into blob paths
(paths never come from a request), records each job's life in the store, files the converted
model as a model of its own, recovers after a restart and applies the retention setting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future

from .errors import KIND_STATUS, ApiError
from .jobs import ProcessRunner, Runner, TaskError
from .settings import Settings
from .storage import BlobStore
from .store import InUse, Store, new_id
from .uploads import Received

log = logging.getLogger("sepconv.service")


class Services:
    """What the routes need, built once per app (``app.state.services``)."""

    def __init__(self, settings: Settings) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.blobs = BlobStore(settings.data_dir)
        self.blobs.clear_tmp()
        self.store = Store(settings.data_dir / "sepconv.db")
        self._files = threading.Lock()  # adopt+insert and delete+unlink of blobs never interleave
        self.runner: Runner = ProcessRunner(settings.workers, settings.job_timeout_s, "sepconv-worker",
                                            on_start=self.store.mark_running, on_progress=self.store.set_progress)
        # uploads are parsed by a separate worker, so they are not stuck behind long conversions
        self.validator: Runner = ProcessRunner(1, min(settings.job_timeout_s, 600.0), "sepconv-validator")

    def close(self) -> None:
        self.runner.shutdown()
        self.validator.shutdown()
        self.store.close()

    # -- uploads -------------------------------------------------------------------------------
    async def validate(self, task: str, payload: dict) -> dict:
        """Run a validation task in the validator process; its errors become 4xx answers."""
        fut = self.validator.submit(new_id("val"), task, payload)
        try:
            return await asyncio.wrap_future(fut)
        except TaskError as exc:
            raise task_error_to_api(exc) from None

    async def add_model(self, rec: Received) -> tuple[dict, bool]:
        """Validate and file an uploaded model; the same bytes give the same model."""
        existing = self._existing("models", rec)
        if existing:
            return existing, False
        try:
            analysis = await self.validate("validate_model", {"path": str(rec.path), "name": rec.name})
            with self._files:
                self.blobs.adopt(rec.path, rec.sha256)
                return self.store.add_model(rec.sha256, rec.name, rec.size, analysis)
        finally:
            rec.path.unlink(missing_ok=True)

    async def add_dataset(self, rec: Received) -> tuple[dict, bool]:
        existing = self._existing("datasets", rec)
        if existing:
            return existing, False
        try:
            info = await self.validate("validate_dataset", {"path": str(rec.path), "name": rec.name})
            with self._files:
                self.blobs.adopt(rec.path, rec.sha256)
                return self.store.add_dataset(rec.sha256, rec.name, rec.size, info["arrays"])
        finally:
            rec.path.unlink(missing_ok=True)

    def _existing(self, table: str, rec: Received) -> dict | None:
        with self._files:
            rows = self.store.find_by_sha(table, rec.sha256)
            if rows and self.blobs.exists(rec.sha256):
                rec.path.unlink(missing_ok=True)
                return rows
        return None

    def delete(self, table: str, artifact_id: str) -> bool:
        """Delete a model or dataset (409 while a job uses it); its file goes when nothing refers to it."""
        with self._files:
            try:
                sha = self.store.delete_artifact(table, artifact_id)
            except InUse as exc:
                what = "model" if table == "models" else "dataset"
                raise ApiError(409, "conflict", f"the {what} is used by job {exc.job_id} (queued or running); "
                                                "wait for it or cancel it first") from None
            if sha is None:
                return False
            if not self.store.sha_in_use(sha):
                self.blobs.remove(sha)
            return True

    # -- jobs ----------------------------------------------------------------------------------------
    def queue_job(self, kind: str, params: dict, refs: list[str]) -> dict:
        """Record a job and hand it to the runner; 429 when the queue is full."""
        queued = len(self.store.jobs_in_state("queued"))
        if queued >= self.settings.max_queued_jobs:
            raise ApiError(429, "queue_full", f"{queued} jobs are waiting already (SEPCONV_MAX_QUEUED_JOBS="
                                              f"{self.settings.max_queued_jobs}); try again later",
                           headers={"Retry-After": "10"})
        job = self.store.add_job(kind, params, refs)
        self._start(job)
        return job

    def _start(self, job: dict) -> None:
        try:
            task, payload = self._payload(job)
        except ApiError as exc:  # e.g. a file missing after a restart
            self.store.finish_job(job["id"], error={"kind": exc.code, "message": exc.message})
            return
        fut = self.runner.submit(job["id"], task, payload)
        fut.add_done_callback(lambda f, j=job, p=payload: self._finished(j, p, f))

    def _path(self, table: str, artifact_id: str) -> tuple[str, str]:
        row = self.store.get_model(artifact_id) if table == "models" else self.store.get_dataset(artifact_id)
        if row is None:
            raise ApiError(404, "not_found", f"{table[:-1]} {artifact_id} no longer exists")
        path = self.blobs.path(row["sha256"])
        if not path.is_file():
            raise ApiError(404, "not_found", f"the file of {table[:-1]} {artifact_id} is missing")
        return str(path), row["name"]

    def _payload(self, job: dict) -> tuple[str, dict]:
        p = job["params"]
        data, data_name = self._path("datasets", p["dataset_id"]) if p.get("dataset_id") else (None, None)
        if job["kind"] == "conversion":
            source, source_name = self._path("models", p["model_id"])
            return "convert", {"source": source, "source_name": source_name, "data": data, "data_name": data_name,
                               "output": str(self.blobs.tmp_path(".onnx")), "options": p["options"]}
        models = [self._path("models", m)[0] for m in p["model_ids"]]
        return "benchmark", {"models": models, "labels": p["model_ids"], "data": data, "data_name": data_name,
                             "input_shapes": p["input_shapes"], "runs": p["runs"], "warmup": p["warmup"],
                             "threads": p.get("threads"), "seed": p.get("seed", 0)}

    def _finished(self, job: dict, payload: dict, fut: Future) -> None:
        """Record a job's outcome (runs on the runner's thread); the store stays consistent on failure."""
        job_id = job["id"]
        exc = fut.exception()
        try:
            if isinstance(exc, TaskError) and exc.kind == "interrupted":
                return  # server shutting down: the restart recovery decides
            if exc is not None:
                kind = exc.kind if isinstance(exc, TaskError) else "internal"
                self.store.finish_job(job_id, error={"kind": kind, "message": str(exc)})
                return
            result = fut.result()
            if job["kind"] == "conversion":
                result = self._file_conversion(job, payload, result)
            self.store.finish_job(job_id, result=result)
        except Exception as err:
            log.exception("recording job %s failed", job_id)
            self.store.finish_job(job_id, error={"kind": "internal", "message": f"storing the result failed: {err}"})
        finally:
            if payload.get("output"):
                from pathlib import Path
                Path(payload["output"]).unlink(missing_ok=True)

    def _file_conversion(self, job: dict, payload: dict, result: dict) -> dict:
        """Move the converted file into the blob store and register it as a model."""
        from pathlib import Path
        source = self.store.get_model(job["params"]["model_id"])
        base = (source["name"] if source else "model").removesuffix(".onnx")
        with self._files:
            self.blobs.adopt(Path(payload["output"]), result["sha256"])
            model, _ = self.store.add_model(result["sha256"], f"{base}.sepconv.onnx", result["size"],
                                            result["analysis"], source_job=job["id"],
                                            parent_id=job["params"]["model_id"])
        report = dict(result["report"])
        report["source"] = job["params"]["model_id"]  # internal paths stay internal
        report["output"] = model["id"]
        return {"model_id": model["id"], "report": report}

    def cancel(self, job_id: str) -> bool:
        if self.runner.cancel(job_id):
            return True
        job = self.store.get_job(job_id)
        if job and job["state"] in ("queued", "running"):
            self.store.finish_job(job_id, error={"kind": "cancelled", "message": "the job was cancelled"})
            return True
        return False

    def recover(self) -> dict:
        """After a restart: running jobs fail as interrupted (or are re-queued), queued ones are queued again."""
        interrupted = self.store.jobs_in_state("running")
        for job in interrupted:
            if self.settings.on_restart == "requeue":
                self.store.requeue(job["id"])
            else:
                self.store.finish_job(job["id"], error={
                    "kind": "interrupted",
                    "message": "the server stopped while the job was running; submit it again"})
        queued = self.store.jobs_in_state("queued")
        for job in queued:
            self._start(job)
        return {"interrupted": len(interrupted), "requeued": len(queued)}

    # -- retention --------------------------------------------------------------------------------------
    def apply_retention(self, now: float | None = None) -> dict:
        """Remove finished jobs, models and datasets older than SEPCONV_RETENTION_DAYS (0: keep all)."""
        days = self.settings.retention_days
        if days <= 0:
            return {"jobs": 0, "models": 0, "datasets": 0}
        cutoff = (now or time.time()) - days * 86400
        jobs, models, datasets = self.store.expired(cutoff)
        self.store.delete_jobs(jobs)
        removed = {"jobs": len(jobs), "models": 0, "datasets": 0}
        for table, rows in (("models", models), ("datasets", datasets)):
            for row in rows:
                try:
                    removed[table] += self.delete(table, row["id"])
                except ApiError:
                    pass  # picked up by a job meanwhile: next round
        return removed


def task_error_to_api(exc: TaskError) -> ApiError:
    """Validation failures: the file is at fault, whatever way it failed."""
    if exc.kind in KIND_STATUS:
        return ApiError(KIND_STATUS[exc.kind], exc.kind, exc.message)
    if exc.kind == "crashed":
        return ApiError(422, "invalid", "the file crashed the parser and was refused")
    if exc.kind == "timeout":
        return ApiError(422, "invalid", "checking the file took too long; it was refused")
    return ApiError(422, "invalid", f"the file could not be checked: {exc.message}")
