"""The SQLite store: the rows of models, datasets and jobs, surviving restarts.

One connection guarded by a lock (the API's event loop and the job runner's thread both
write); WAL mode and ``synchronous=FULL`` so that an answered request is on disk.
Rows hold metadata only; the files live in :mod:`.blob_store` under their sha256.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, name TEXT NOT NULL, size INTEGER NOT NULL,
    created REAL NOT NULL, source_job TEXT, parent_id TEXT, analysis TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, name TEXT NOT NULL, size INTEGER NOT NULL,
    created REAL NOT NULL, arrays TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, created REAL NOT NULL,
    started REAL, finished REAL, params TEXT NOT NULL, refs TEXT NOT NULL,
    progress TEXT, result TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_source ON jobs(json_extract(params, '$.model_id')) WHERE kind = 'conversion';
CREATE TABLE IF NOT EXISTS heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL, token TEXT NOT NULL);
"""

def _text(value: object) -> str:
    """What JSON cannot hold as it is: bytes (a name that is not UTF-8) as text with replacement characters."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: object) -> str:
    return json.dumps(value, default=_text)


def new_id(prefix: str) -> str:
    """Random, URL-safe, unguessable ids (``mdl_…``, ``ds_…``, ``job_…``)."""
    return f"{prefix}_{secrets.token_hex(8)}"


class SqliteStore:
    """One database file; every method is one statement or one transaction."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self.problem: str | None = None  # why the last write check failed
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def writable(self) -> bool:
        """Can the database take a write right now (disk full, read-only mount, I/O error, lock)? A
        heartbeat row is written, committed and read back; ``problem`` says why not."""
        token = secrets.token_hex(8)
        try:
            with self._lock:
                # a read first: it reloads a schema changed since a failed write (which would be kept stale otherwise)
                self._db.execute("SELECT count(*) FROM heartbeat").fetchall()
                self._db.execute("INSERT OR REPLACE INTO heartbeat VALUES (1, ?, ?)", (time.time(), token))
                row = self._db.execute("SELECT token FROM heartbeat WHERE id=1").fetchone()
            if row is None or row["token"] != token:
                self.problem = "the heartbeat row did not read back"
                return False
            self.problem = None
            return True
        except sqlite3.Error as exc:
            self.problem = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            return False

    # -- models and datasets ----------------------------------------------------------------
    def add_model(self, sha256: str, name: str, size: int, analysis: dict, source_job: str | None = None,
                  parent_id: str | None = None) -> tuple[dict, bool]:
        """Insert the model, or return the one with the same bytes. ``(row, created)``."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO models VALUES (?,?,?,?,?,?,?,?)",
                (new_id("mdl"), sha256, name, size, time.time(), source_job, parent_id, _dumps(analysis)))
            row = self._db.execute("SELECT * FROM models WHERE sha256=?", (sha256,)).fetchone()
        return _model(row), cur.rowcount == 1

    def find_by_sha(self, table: str, sha256: str) -> dict | None:
        assert table in ("models", "datasets")
        row = self._exec(f"SELECT * FROM {table} WHERE sha256=?", (sha256,)).fetchone()
        return None if row is None else _ARTIFACT_ROW[table](row)

    def _get(self, table: str, artifact_id: str) -> dict | None:
        row = self._exec(f"SELECT * FROM {table} WHERE id=?", (artifact_id,)).fetchone()
        return _ARTIFACT_ROW[table](row) if row else None

    def _list(self, table: str, limit: int, offset: int) -> list[dict]:
        rows = self._exec(f"SELECT * FROM {table} ORDER BY created DESC, id LIMIT ? OFFSET ?", (limit, offset))
        return [_ARTIFACT_ROW[table](r) for r in rows.fetchall()]

    def get_model(self, model_id: str) -> dict | None:
        return self._get("models", model_id)

    def list_models(self, limit: int, offset: int) -> list[dict]:
        return self._list("models", limit, offset)

    def add_dataset(self, sha256: str, name: str, size: int, arrays: list[dict]) -> tuple[dict, bool]:
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO datasets VALUES (?,?,?,?,?,?)",
                                   (new_id("ds"), sha256, name, size, time.time(), _dumps(arrays)))
            row = self._db.execute("SELECT * FROM datasets WHERE sha256=?", (sha256,)).fetchone()
        return _dataset(row), cur.rowcount == 1

    def get_dataset(self, dataset_id: str) -> dict | None:
        return self._get("datasets", dataset_id)

    def list_datasets(self, limit: int, offset: int) -> list[dict]:
        return self._list("datasets", limit, offset)

    def delete_artifact(self, table: str, artifact_id: str) -> str | None:
        """Delete a model or dataset row unless an active job uses it; return its sha256.

        Raises :class:`InUse` with the job's id when a queued or running job refers to it.
        """
        assert table in ("models", "datasets")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(f"SELECT sha256 FROM {table} WHERE id=?", (artifact_id,)).fetchone()
                if row is None:
                    self._db.execute("ROLLBACK")
                    return None
                job = self._active_job_using(artifact_id)
                if job:
                    self._db.execute("ROLLBACK")
                    raise InUse(job)
                self._db.execute(f"DELETE FROM {table} WHERE id=?", (artifact_id,))
                self._db.execute("COMMIT")
                return row["sha256"]
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise

    def _active_job_using(self, artifact_id: str) -> str | None:
        for r in self._db.execute("SELECT id, refs FROM jobs WHERE state IN ('queued','running')"):
            if artifact_id in json.loads(r["refs"]):
                return r["id"]
        return None

    def sha_in_use(self, sha256: str) -> bool:
        """Is a blob still referenced by any model or dataset row?"""
        with self._lock:
            return bool(self._db.execute("SELECT 1 FROM models WHERE sha256=? UNION ALL "
                                         "SELECT 1 FROM datasets WHERE sha256=?", (sha256, sha256)).fetchone())

    def known_shas(self) -> set[str]:
        """Every blob some model or dataset row names."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT sha256 FROM models UNION SELECT sha256 FROM datasets")}

    # -- jobs -------------------------------------------------------------------------------------
    def add_job(self, kind: str, params: dict, refs: list[str]) -> dict:
        job_id = new_id("job")
        self._exec("INSERT INTO jobs (id, kind, state, created, params, refs, progress) VALUES (?,?,?,?,?,?,?)",
                   (job_id, kind, "queued", time.time(), _dumps(params), _dumps(refs),
                    _dumps({"stage": "queued", "fraction": 0.0})))
        job = self.get_job(job_id)
        assert job is not None
        return job

    def get_job(self, job_id: str) -> dict | None:
        row = self._exec("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list_jobs(self, limit: int, offset: int, state: str | None = None) -> list[dict]:
        if state:
            rows = self._exec("SELECT * FROM jobs WHERE state=? ORDER BY created DESC, id LIMIT ? OFFSET ?",
                              (state, limit, offset))
        else:
            rows = self._exec("SELECT * FROM jobs ORDER BY created DESC, id LIMIT ? OFFSET ?", (limit, offset))
        return [_job(r) for r in rows.fetchall()]

    def list_conversions(self, model_id: str, limit: int, offset: int) -> list[dict]:
        """The conversion jobs made from one model, newest first."""
        rows = self._exec("SELECT * FROM jobs WHERE kind = 'conversion' AND json_extract(params, '$.model_id') = ? "
                          "ORDER BY created DESC, id LIMIT ? OFFSET ?", (model_id, limit, offset))
        return [_job(r) for r in rows.fetchall()]

    def conversion_options(self, job_ids: list[str]) -> dict[str, dict]:
        """Each conversion job's options, by id (jobs that are gone are left out): one query for a page."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._exec(f"SELECT id, json_extract(params, '$.options') AS options FROM jobs "
                          f"WHERE kind = 'conversion' AND id IN ({marks})", tuple(ids))
        return {r["id"]: json.loads(r["options"]) for r in rows.fetchall() if r["options"]}

    def jobs_in_state(self, state: str) -> list[dict]:
        return [_job(r) for r in self._exec("SELECT * FROM jobs WHERE state=? ORDER BY created", (state,))]

    def mark_running(self, job_id: str) -> None:
        self._exec("UPDATE jobs SET state='running', started=?, progress=? WHERE id=? AND state='queued'",
                   (time.time(), _dumps({"stage": "running", "fraction": 0.0}), job_id))

    def set_progress(self, job_id: str, progress: dict) -> None:
        self._exec("UPDATE jobs SET progress=? WHERE id=? AND state='running'", (_dumps(progress), job_id))

    def finish_job(self, job_id: str, result: dict | None = None, error: dict | None = None) -> None:
        """Record the outcome; a job finishes once (a late result after a cancel is dropped)."""
        state = "failed" if error is not None else "succeeded"
        progress = {"stage": "done", "fraction": 1.0 if error is None else None}
        self._exec("UPDATE jobs SET state=?, finished=?, result=?, error=?, progress=? "
                   "WHERE id=? AND state IN ('queued','running')",
                   (state, time.time(), _dumps(result) if result is not None else None,
                    _dumps(error) if error is not None else None, _dumps(progress), job_id))

    def requeue(self, job_id: str) -> None:
        self._exec("UPDATE jobs SET state='queued', started=NULL, progress=? WHERE id=?",
                   (_dumps({"stage": "queued", "fraction": 0.0, "requeued": True}), job_id))

    # -- retention ---------------------------------------------------------------------------------
    def expired(self, cutoff: float) -> tuple[list[str], list[dict], list[dict]]:
        """Jobs finished before ``cutoff``, models and datasets created before it and not used by an
        active job. (A job counts from when it finished: one that ran long is not gone as it ends.)"""
        with self._lock:
            active_refs: set[str] = set()
            for r in self._db.execute("SELECT refs FROM jobs WHERE state IN ('queued','running')"):
                active_refs.update(json.loads(r["refs"]))
            jobs = [r["id"] for r in self._db.execute(
                "SELECT id FROM jobs WHERE state NOT IN ('queued','running') AND COALESCE(finished, created) < ?",
                (cutoff,))]
            models = [dict(r) for r in self._db.execute("SELECT id, sha256 FROM models WHERE created < ?", (cutoff,))
                      if r["id"] not in active_refs]
            datasets = [dict(r) for r in self._db.execute("SELECT id, sha256 FROM datasets WHERE created < ?",
                                                          (cutoff,)) if r["id"] not in active_refs]
        return jobs, models, datasets

    def delete_jobs(self, job_ids: list[str]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM jobs WHERE id=?", [(j,) for j in job_ids])


class InUse(Exception):
    """A model or dataset is referred to by a queued or running job."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


def _model(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["analysis"] = json.loads(d["analysis"])
    return d


def _dataset(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["arrays"] = json.loads(d["arrays"])
    return d


def _job(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    for k in ("params", "refs", "progress", "result", "error"):
        d[k] = json.loads(d[k]) if d[k] is not None else None
    return d


#: each artifact table's row as the API's dict
_ARTIFACT_ROW = {"models": _model, "datasets": _dataset}
