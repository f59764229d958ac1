"""A local sepconv stack on loopback for the tests and the benchmarks: the service
(``python -m sepconv.service``), ``sepconv worker`` processes, redis-server and moto's S3 server,
each a subprocess on a free port with its own folder, started and stopped by the caller; and a
tiny Conv model to feed it. Only loopback addresses are used.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import onnx
import psutil
from onnx import helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes still running (a zombie nobody reaped yet counts as gone)."""
    left = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(p)
        except psutil.NoSuchProcess:
            pass
    return left


class Server:
    """``python -m sepconv.service`` on a free loopback port, with its own data directory."""

    def __init__(self, data_dir: Path, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.data_dir, self.workers, self.extra_env = data_dir, workers, env or {}
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEPCONV_")}
        env.update(self.extra_env)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "sepconv.service", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", str(self.workers), "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s: {self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def client(self, **kw) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kw)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    """Poll a job until it finishes (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def conv_model(cin: int = 8, cout: int = 16, hw: int = 16, seed: int = 0, name: str = "tiny",
               input_name: str = "input", dtype: type = np.float32, shape: list | None = None) -> bytes:
    """Conv 3x3 cin->cout, Relu, on 1 x cin x hw x hw (or ``shape``, where a string is a symbolic
    dim): small, fast, eligible for both methods."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((cout, cin, 3, 3)).astype(dtype), "w")
    b = numpy_helper.from_array(rng.standard_normal(cout).astype(dtype), "b")
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    shape = shape or [1, cin, hw, hw]
    out_shape = [shape[0], cout, *shape[2:]]
    nodes = [helper.make_node("Conv", [input_name, "w", "b"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["output"], name="relu1")]
    graph = helper.make_graph(nodes, name,
                              [helper.make_tensor_value_info(input_name, elem, shape)],
                              [helper.make_tensor_value_info("output", elem, out_shape)],
                              [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def upload(client: httpx.Client, path: str, data: bytes, name: str = "model.onnx") -> httpx.Response:
    return client.post(path, files={"file": (name, data, "application/octet-stream")})



# -- the scale-out: a real redis-server and real `sepconv worker` processes --------------------------
def _wait_for(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} not ready after {timeout} s: {tail}")


class _Daemon:
    """A server process on a free loopback port, with its own folder; stopped with SIGTERM."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # redis writes its append-only file and exits
            self.proc.wait(timeout=20)
        self.proc = None


class Redis(_Daemon):
    """redis-server with its append-only file on (fsync always); restartable on the same port and folder."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> Redis:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
               "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"]
        self.proc = subprocess.Popen(cmd, stdout=open(self.folder / "redis.log", "ab"), stderr=subprocess.STDOUT)
        _wait_for(self.ping, timeout, "redis-server", self.folder / "redis.log")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False



class Worker:
    """``sepconv worker`` in a subprocess, on the broker and data directory given."""

    def __init__(self, broker_url: str, data_dir: Path, queues: str = "convert,bench", concurrency: int = 1,
                 env: dict[str, str] | None = None, name: str = "worker") -> None:
        self.broker_url, self.data_dir, self.queues, self.concurrency = broker_url, data_dir, queues, concurrency
        self.extra_env = env or {}
        self.log = data_dir.parent / f"{data_dir.name}-{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEPCONV_")}
        env.update(self.extra_env)
        env.update(SEPCONV_BROKER_URL=self.broker_url, OMP_NUM_THREADS="1")
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        start = self.log.stat().st_size if self.log.exists() else 0
        cmd = [sys.executable, "-m", "sepconv", "worker", "--queues", self.queues,
               "--concurrency", str(self.concurrency), "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)

        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-3000:]}")
            return b" ready." in self.log.read_bytes()[start:]

        _wait_for(ready, timeout, "sepconv worker", self.log)
        return self

    def children(self) -> list[psutil.Process]:
        """The pool processes that run the jobs."""
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        kids = self.children() if self.proc.poll() is None else []
        self.proc.send_signal(sig) if self.proc.poll() is None else None
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for p in alive(kids):
            p.kill()
        self.proc.wait(timeout=5)
        self.proc = None


class Moto(_Daemon):
    """moto's S3 in server mode (an S3-compatible object store for the tests)."""

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 at this server."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}"}

    def start(self, timeout: float = 30) -> Moto:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=open(self.folder / "moto.log", "ab"), stderr=subprocess.STDOUT)

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        _wait_for(up, timeout, "moto server", self.folder / "moto.log")
        return self

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
