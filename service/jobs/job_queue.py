"""Conversions and benchmarks as jobs: queue them, build what the worker gets, file what it returns.

Each job's life is recorded in the SQLite store (queued, running, succeeded or failed) so that it
survives a restart; the worker pool runs it. A conversion's output becomes a model of its own.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from pathlib import Path

from ..embedded.worker_pool import Runner, TaskError
from ..errors import ApiError, not_found
from ..redact import hide_paths
from ..storage.artifacts import Artifacts
from ..storage.blob_store import BlobStore
from ..storage.sqlite_store import SqliteStore

log = logging.getLogger("sepconv.service")


class RunnerUnavailable(Exception):
    """The runner cannot take jobs right now (the broker is down): the API answers 503."""


class JobQueue:
    """What the routes and the restart recovery do with jobs."""

    def __init__(self, db: SqliteStore, blobs: BlobStore, artifacts: Artifacts, runner: Runner,
                 max_queued: int) -> None:
        self.db, self.blobs, self.artifacts, self.runner = db, blobs, artifacts, runner
        self.max_queued = max_queued

    def job(self, job_id: str) -> dict:
        """The job's row; 404 when there is none."""
        row = self.db.get_job(job_id)
        if row is None:
            raise not_found("job", job_id)
        return row

    def queue(self, kind: str, params: dict, refs: list[str]) -> dict:
        """Record a job and hand it to the worker pool; 429 when the queue is full."""
        queued = len(self.db.jobs_in_state("queued"))
        if queued >= self.max_queued:
            raise ApiError(429, "queue_full", f"{queued} jobs are waiting already (SEPCONV_MAX_QUEUED_JOBS="
                                              f"{self.max_queued}); try again later", headers={"Retry-After": "10"})
        job = self.db.add_job(kind, params, refs)
        try:
            self._start(job)
        except RunnerUnavailable as exc:  # never accepted: no record of it stays behind
            self.db.delete_jobs([job["id"]])
            raise ApiError(503, "unavailable", str(exc), headers={"Retry-After": "10"}) from None
        return job

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job (it ends as failed, kind 'cancelled'); 409 when it has finished."""
        row = self.job(job_id)
        if row["state"] not in ("queued", "running") or not self._cancel(job_id):
            raise ApiError(409, "conflict", f"job {job_id} has already finished ({row['state']})")
        return self.job(job_id)

    def _cancel(self, job_id: str) -> bool:
        try:
            if self.runner.cancel(job_id):
                return True
        except RunnerUnavailable as exc:
            raise ApiError(503, "unavailable", str(exc), headers={"Retry-After": "10"}) from None
        job = self.db.get_job(job_id)
        if job and job["state"] in ("queued", "running"):
            self.db.finish_job(job_id, error={"kind": "cancelled", "message": "the job was cancelled"})
            return True
        return False

    def recover(self, on_restart: str) -> dict:
        """After a restart: running jobs fail as interrupted (or are re-queued), queued ones are queued again.
        With a durable runner (Celery) jobs went on without the API: all of them are followed again."""
        if getattr(self.runner, "durable", False):
            active = self.db.jobs_in_state("running") + self.db.jobs_in_state("queued")
            for job in active:
                self._start(job, resume=True)
            return {"resumed": len(active)}
        interrupted = self.db.jobs_in_state("running")
        for job in interrupted:
            if on_restart == "requeue":
                self.db.requeue(job["id"])
            else:
                self.db.finish_job(job["id"], error={
                    "kind": "interrupted", "message": "the server stopped while the job was running; submit it again"})
        queued = self.db.jobs_in_state("queued")
        for job in queued:
            self._start(job)
        return {"interrupted": len(interrupted), "requeued": len(queued)}

    # -- running a job -------------------------------------------------------------------------
    def _start(self, job: dict, resume: bool = False) -> None:
        try:
            task, payload = self._payload(job, remote=getattr(self.runner, "durable", False))
        except ApiError as exc:  # e.g. a file missing after a restart
            self.db.finish_job(job["id"], error={"kind": exc.code, "message": exc.message})
            return
        submit = self.runner.resume if resume else self.runner.submit  # type: ignore[attr-defined]
        fut = submit(job["id"], task, payload)
        fut.add_done_callback(lambda f, j=job, p=payload: self._finished(j, p, f))

    def _payload(self, job: dict, remote: bool = False) -> tuple[str, dict]:
        """The task and its payload: the job's parameters, with ids turned into blob paths (or, for
        workers on other machines, into the blobs' sha256 keys, which they resolve themselves)."""
        p = job["params"]
        locate = self.artifacts.key_for_job if remote else self.artifacts.file_for_job
        data, data_name = locate("datasets", p["dataset_id"]) if p.get("dataset_id") else (None, None)
        if job["kind"] == "conversion":
            source, source_name = locate("models", p["model_id"])
            payload = {"source": source, "source_name": source_name, "data": data, "data_name": data_name,
                       "options": p["options"]}
            if not remote:
                payload["output"] = str(self.blobs.tmp_path(".onnx"))
            return "convert", payload
        models = [locate("models", m)[0] for m in p["model_ids"]]
        return "benchmark", {"models": models, "labels": p["model_ids"], "data": data, "data_name": data_name,
                             "input_shapes": p["input_shapes"], "runs": p["runs"], "warmup": p["warmup"],
                             "threads": p.get("threads"), "seed": p.get("seed", 0), "batch": p.get("batch"),
                             "dataset_id": p.get("dataset_id")}

    def _finished(self, job: dict, payload: dict, fut: Future) -> None:
        """Record a job's outcome (runs on the pool's thread); the store stays consistent on failure."""
        job_id = job["id"]
        exc = fut.exception()
        try:
            if isinstance(exc, TaskError) and exc.kind == "interrupted":
                return  # server shutting down: the restart recovery decides
            if exc is not None:
                kind = exc.kind if isinstance(exc, TaskError) else "internal"
                self.db.finish_job(job_id, error={"kind": kind, "message": hide_paths(str(exc))})
                return
            result = fut.result()
            if job["kind"] == "conversion":
                output = Path(payload["output"]) if payload.get("output") else None  # None: a worker filed it
                result = self._file_conversion(job, output, result)
            self.db.finish_job(job_id, result=result)
        except Exception as err:
            log.exception("recording job %s failed", job_id)
            message = hide_paths(f"storing the result failed: {err}")
            self.db.finish_job(job_id, error={"kind": "internal", "message": message})
        finally:
            if payload.get("output"):
                Path(payload["output"]).unlink(missing_ok=True)

    def _file_conversion(self, job: dict, output: Path | None, result: dict) -> dict:
        """File the converted model; the job's result names it, and internal paths stay internal."""
        source_id = job["params"]["model_id"]
        report = dict(result["report"])
        report["source"] = source_id
        verdict = result.get("verdict")
        if not result.get("sha256"):  # nothing changed (see tasks.convert): the report alone, no model
            report["output"] = None
            return {"model_id": None, "report": report, "verdict": verdict}
        model = self.artifacts.file_converted(output, result, source_id, job["id"])
        report["output"] = model["id"]
        return {"model_id": model["id"], "report": report, "verdict": verdict}
