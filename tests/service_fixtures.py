"""Helpers for the service tests: the local stack (``devtools/local_stack.py``: the service, workers,
Redis and moto in subprocesses, shared with the benchmarks) under the tests' rules (a missing
redis-server skips, or fails where every test must run; deadlines follow the machine: :mod:`machine`),
bad models, and tasks for the worker pool's own tests. Test modules import what they need from here.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import local_stack
import numpy as np
import onnx
from local_stack import REPO, alive, conv_model, free_port, upload
from machine import program, scaled
from onnx import TensorProto, helper

__all__ = ["REPO", "Moto", "Redis", "Server", "Worker", "alive", "conv_model", "free_port", "serving", "upload",
           "wait_job", "checker_failing_model", "external_data_model", "no_conv_model", "npz_bytes", "TASKS"]


class Redis(local_stack.Redis):
    """redis-server, or the test that needs it is skipped (failed where every test must run)."""

    def start(self, timeout: float = 20) -> Redis:
        program("redis-server", install="apt-get install redis-server")
        return super().start(scaled(timeout))


class Moto(local_stack.Moto):
    """moto's S3 server, given as long to get ready as this machine needs."""

    def start(self, timeout: float = 30) -> Moto:
        return super().start(scaled(timeout))


class Server(local_stack.Server):
    """The service, given as long to get ready as this machine needs."""

    def start(self, timeout: float = 60) -> Server:
        return super().start(scaled(timeout))


class Worker(local_stack.Worker):
    """A ``sepconv worker``, given as long to get ready as this machine needs."""

    def start(self, timeout: float = 60) -> Worker:
        return super().start(scaled(timeout))


@contextlib.contextmanager
def serving(base: Path, workers: int = 2) -> Iterator[httpx.Client]:
    """A server on ``base/data`` (auto mode's latency cache in ``base/cache``) and a client of it; on
    leaving, the server stops and its log must hold no traceback."""
    srv = Server(base / "data", workers=workers, env={"SEPCONV_CACHE_DIR": str(base / "cache")}).start()
    with srv.client() as c:
        yield c
    srv.stop()
    assert "Traceback" not in srv.log.read_text(), srv.log.read_text()[-4000:]


def wait_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    """Poll a job until it finishes, for ``timeout`` seconds scaled to this machine."""
    return local_stack.wait_job(client, job_id, scaled(timeout))


def no_conv_model() -> bytes:
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["output"])], "noconv",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def checker_failing_model() -> bytes:
    """Parses as protobuf, but the checker refuses it (a node uses a name nothing produces)."""
    graph = helper.make_graph([helper.make_node("Relu", ["nowhere"], ["output"])], "bad",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def external_data_model(location: str = "../../../../etc/passwd") -> bytes:
    """A model whose weight claims to live in an external file (the external-data CVEs' vector)."""
    model = onnx.load_from_string(conv_model())
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(16 * 8 * 9 * 4))):
        w.external_data.add(key=k, value=v)
    return model.SerializeToString()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# -- tasks for the worker pool's tests: ProcessRunner(..., extra_tasks="service_fixtures") -----------
def sleep_task(payload: dict, progress) -> dict:
    progress("sleeping", 0.5)
    time.sleep(float(payload.get("seconds", 1)))
    return {"slept": payload.get("seconds", 1)}


def crash_task(payload: dict, progress) -> dict:
    os._exit(int(payload.get("code", 3)))


#: what a worker adds to the service's own tasks when the pool names this module
TASKS = {"sleep": sleep_task, "crash": crash_task}
