"""Models and datasets: a row in the SQLite store and a file in the blob store, kept in step.

Uploads are checked in the validator process before they are filed; the same bytes give the
same model or dataset. A file is filed (adopt, then insert) and removed (delete, then unlink)
under one lock, so a delete never unlinks a file that an upload of the same bytes just filed.
Ids become paths here only (paths never come from a request).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import ApiError, not_found
from ..jobs.validator import Validator
from .blob_store import BlobStore
from .sqlite_store import InUse, SqliteStore
from .uploads import Received

#: the kinds of artifact, by table
WHAT = {"models": "model", "datasets": "dataset"}


class Artifacts:
    """What the routes and the job queue do with models and datasets."""

    def __init__(self, db: SqliteStore, blobs: BlobStore, validator: Validator) -> None:
        self.db, self.blobs, self.validator = db, blobs, validator
        self._files = threading.Lock()  # adopt+insert and delete+unlink of blobs never interleave

    # -- lookups -------------------------------------------------------------------------------
    def model(self, model_id: str) -> dict:
        """The model's row; 404 when there is none."""
        row = self.db.get_model(model_id)
        if row is None:
            raise not_found("model", model_id)
        return row

    def dataset(self, dataset_id: str) -> dict:
        """The dataset's row; 404 when there is none."""
        row = self.db.get_dataset(dataset_id)
        if row is None:
            raise not_found("dataset", dataset_id)
        return row

    def file_for_job(self, table: str, artifact_id: str) -> tuple[str, str]:
        """``(path, name)`` of an artifact a queued job refers to; 404 when it or its file is gone."""
        row = self._job_row(table, artifact_id)
        return str(self.blob_path(table, row)), row["name"]

    def key_for_job(self, table: str, artifact_id: str) -> tuple[str, str]:
        """``(sha256, name)`` of an artifact a job on another machine refers to; 404 when it or its file is gone."""
        row = self._job_row(table, artifact_id)
        if not self.blobs.exists(row["sha256"]):
            raise ApiError(404, "not_found", f"the file of {WHAT[table]} {row['id']} is missing from the blob store")
        return row["sha256"], row["name"]

    def _job_row(self, table: str, artifact_id: str) -> dict:
        row = self.db.get_model(artifact_id) if table == "models" else self.db.get_dataset(artifact_id)
        if row is None:
            raise ApiError(404, "not_found", f"{WHAT[table]} {artifact_id} no longer exists")
        return row

    def blob_path(self, table: str, row: dict) -> Path:
        """The artifact's file; 404 when it is missing from the data directory."""
        path = self.blobs.path(row["sha256"])
        if not path.is_file():
            raise ApiError(404, "not_found", f"the file of {WHAT[table]} {row['id']} is missing from the data "
                                             "directory")
        return path

    # -- uploads -------------------------------------------------------------------------------
    async def add_model(self, rec: Received) -> tuple[dict, bool]:
        """Check and file an uploaded model; ``(row, created)``."""
        return await self._add("models", "validate_model", rec, lambda analysis: self.db.add_model(
            rec.sha256, rec.name, rec.size, analysis))

    async def add_dataset(self, rec: Received) -> tuple[dict, bool]:
        """Check and file an uploaded .npz; ``(row, created)``."""
        return await self._add("datasets", "validate_dataset", rec, lambda info: self.db.add_dataset(
            rec.sha256, rec.name, rec.size, info["arrays"]))

    async def _add(self, table: str, check: str, rec: Received,
                   insert: Callable[[dict], tuple[dict, bool]]) -> tuple[dict, bool]:
        """Known bytes: the existing row. New ones: check them, then file the blob and insert the row."""
        try:
            with self._files:
                row = self.db.find_by_sha(table, rec.sha256)
                if row and self.blobs.exists(rec.sha256):
                    return row, False
            checked = await self.validator.run(check, {"path": str(rec.path), "name": rec.name})
            with self._files:
                return self._file(rec.path, rec.sha256, lambda: insert(checked))
        finally:
            rec.path.unlink(missing_ok=True)

    def _file(self, src: Path | None, sha256: str, insert: Callable[[], tuple[dict, bool]]) -> tuple[dict, bool]:
        """Move the blob into place, then insert its row; when the insert fails, the blob goes again
        (unless it was there before or a row uses it), so an upload is seen whole or not at all.
        ``src`` None: the blob is in the store already (a worker on another machine put it there)."""
        existed = self.blobs.exists(sha256)
        if src is not None:
            self.blobs.adopt(src, sha256)
        try:
            return insert()
        except BaseException:
            if not existed and not self._row_uses(sha256):
                self.blobs.remove(sha256)
            raise

    def _row_uses(self, sha256: str) -> bool:
        """Does a row refer to the blob? (A store that cannot answer had no row for a blob that was not there.)"""
        try:
            return self.db.sha_in_use(sha256)
        except sqlite3.Error:
            return False

    def file_converted(self, output: Path | None, result: dict, source_id: str, job_id: str) -> dict:
        """File a conversion's output as a model of its own, named after its source. ``output`` None:
        a worker on another machine put the file in the blob store already."""
        source = self.db.get_model(source_id)
        base = (source["name"] if source else "model").removesuffix(".onnx")
        with self._files:
            if output is None and not self.blobs.exists(result["sha256"]):
                raise ValueError("the worker's output is missing from the blob store")
            model, _ = self._file(output, result["sha256"], lambda: self.db.add_model(
                result["sha256"], f"{base}.sepconv.onnx", result["size"], result["analysis"], source_job=job_id,
                parent_id=source_id))
        return model

    # -- deletion ------------------------------------------------------------------------------
    def remove_orphans(self, older_than: float) -> int:
        """Remove the data directory's blobs that no row names, last changed before ``older_than``
        (a time); each is checked again under the files lock, so an upload of the same bytes that
        files its row meanwhile keeps its blob. How many went."""
        known = self.db.known_shas()
        removed = 0
        for sha, path in self.blobs.local_blobs():
            if sha in known:
                continue
            with self._files:
                try:
                    if path.stat().st_mtime < older_than and not self.db.sha_in_use(sha):
                        path.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def delete(self, table: str, artifact_id: str) -> bool:
        """Delete a model or dataset (409 while a job uses it); its file goes when nothing refers to it."""
        with self._files:
            try:
                sha = self.db.delete_artifact(table, artifact_id)
            except InUse as exc:
                raise ApiError(409, "conflict", f"the {WHAT[table]} is used by job {exc.job_id} (queued or "
                                                "running); wait for it or cancel it first") from None
            if sha is None:
                return False
            if not self.db.sha_in_use(sha):
                self.blobs.remove(sha)
            return True
