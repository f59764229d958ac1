"""File checks in their own worker process: an upload's parse, a dataset against a model.

A separate worker so that uploads are not stuck behind long conversions, and so that a file
that crashes or hangs its parser is refused (422) while the server goes on.
"""

from __future__ import annotations

import asyncio

from ..embedded.worker_pool import Runner, TaskError
from ..errors import KIND_STATUS, ApiError
from ..storage.sqlite_store import new_id


class Validator:
    """Runs the check tasks of :mod:`.tasks` and turns their failures into 4xx answers."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def run(self, task: str, payload: dict) -> dict:
        fut = self.runner.submit(new_id("val"), task, payload)
        try:
            return await asyncio.wrap_future(fut)
        except TaskError as exc:
            raise task_error_to_api(exc) from None


def task_error_to_api(exc: TaskError) -> ApiError:
    """Validation failures: the file is at fault, whatever way it failed."""
    if exc.kind in KIND_STATUS:
        return ApiError(KIND_STATUS[exc.kind], exc.kind, exc.message)
    if exc.kind == "crashed":
        return ApiError(422, "invalid", "the file crashed the parser and was refused")
    if exc.kind == "timeout":
        return ApiError(422, "invalid", "checking the file took too long; it was refused")
    return ApiError(422, "invalid", f"the file could not be checked: {exc.message}")
