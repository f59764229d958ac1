"""The retention setting: finished jobs, models and datasets older than SEPCONV_RETENTION_DAYS go.

Applied at startup and then every SEPCONV_RETENTION_INTERVAL_S, off the event loop. A model or
dataset that a queued or running job uses stays until a later round. Each round also sweeps the
data directory's blobs that no model or dataset row names (left by a crash between a file and its
record), once they are older than :data:`ORPHAN_GRACE_S`: younger ones may be an upload whose
record is being written. Blobs in an S3 store are not swept (a store may serve several servers).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..errors import ApiError
from .artifacts import Artifacts
from .sqlite_store import SqliteStore

log = logging.getLogger("sepconv.service")

ORPHAN_GRACE_S = 3600.0


class Retention:
    """The cleanup and its schedule."""

    def __init__(self, db: SqliteStore, artifacts: Artifacts, days: float, interval_s: float) -> None:
        self.db, self.artifacts, self.days, self.interval_s = db, artifacts, days, interval_s

    def apply(self) -> dict:
        """Remove what is past the age (0 days: keep all); how many of each went."""
        if self.days <= 0:
            return {"jobs": 0, "models": 0, "datasets": 0}
        cutoff = time.time() - self.days * 86400
        jobs, models, datasets = self.db.expired(cutoff)
        self.db.delete_jobs(jobs)
        removed = {"jobs": len(jobs), "models": 0, "datasets": 0}
        for table, rows in (("models", models), ("datasets", datasets)):
            for row in rows:
                try:
                    removed[table] += self.artifacts.delete(table, row["id"])
                except ApiError:
                    pass  # picked up by a job meanwhile: next round
        return removed

    async def run(self) -> None:
        """Apply it now and then every interval, until cancelled; a failed round is logged, not fatal."""
        while True:
            try:
                removed = await asyncio.to_thread(self.apply)
                removed["orphan_blobs"] = await asyncio.to_thread(self.artifacts.remove_orphans,
                                                                 time.time() - ORPHAN_GRACE_S)
                if any(removed.values()):
                    log.info("retention removed %s", removed)
            except Exception:
                log.exception("retention cleanup failed")
            await asyncio.sleep(self.interval_s)
