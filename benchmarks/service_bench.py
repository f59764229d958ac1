"""Service speed and memory (a benchmark, not a test): run ``python benchmarks/service_bench.py``.

1. Upload a ~200 MB model and sample the server process's RSS (psutil) while it streams in:
   peak RSS growth as a multiple of the file size (aim: below 1.5x). Parsing and checking
   happen in a validator process, reported apart.
2. With a long benchmark job on every worker, time ``/healthz``: p50/p99 latency (aim: p99
   under 50 ms).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import onnx
import psutil
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devtools"))
from local_stack import Server, conv_model, wait_job  # noqa: E402


def big_model(path: Path, megabytes: int) -> int:
    """A valid model with one Conv whose weight holds about ``megabytes`` MB."""
    cin = 1024
    cout = max(1, megabytes * 1024 * 1024 // (cin * 9 * 4))
    w = numpy_helper.from_array(np.zeros((cout, cin, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["input", "w"], ["output"], name="conv", pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "big",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, cin, 4, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, cout, 4, 4])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path.stat().st_size


def chunks(path: Path, size: int = 1 << 20):
    with open(path, "rb") as fh:
        while block := fh.read(size):
            yield block


def upload_memory(srv: Server, path: Path, size: int) -> None:
    server = psutil.Process(srv.proc.pid)
    base = server.memory_info().rss
    peak = {"server": base, "children": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                peak["server"] = max(peak["server"], server.memory_info().rss)
                kids = sum(k.memory_info().rss for k in server.children(recursive=True))
                peak["children"] = max(peak["children"], kids)
            except psutil.Error:
                pass
            time.sleep(0.01)

    t = threading.Thread(target=sample)
    t.start()
    t0 = time.perf_counter()
    r = httpx.post(srv.url + "/v1/models?name=big.onnx", content=chunks(path), timeout=600,
                   headers={"content-type": "application/octet-stream", "content-length": str(size)})
    elapsed = time.perf_counter() - t0
    stop.set()
    t.join()
    print(f"upload: {size / 1e6:.0f} MB -> HTTP {r.status_code} in {elapsed:.1f} s")
    print(f"  server RSS before {base / 1e6:.0f} MB, peak {peak['server'] / 1e6:.0f} MB: "
          f"peak growth {(peak['server'] - base) / size:.2f}x the file size, "
          f"peak total {peak['server'] / size:.2f}x")
    print(f"  worker processes (all, incl. the validator parsing the model) peak RSS sum "
          f"{peak['children'] / 1e6:.0f} MB")


def health_latency(srv: Server, workers: int, seconds: float) -> None:
    with srv.client() as c:
        mid = c.post("/v1/models?name=load.onnx", content=conv_model(cin=32, cout=64, hw=64, seed=3),
                     headers={"content-type": "application/octet-stream"}).json()["id"]
        jobs = [c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 10000}).json()["id"]
                for _ in range(workers)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(c.get(f"/v1/jobs/{j}").json()["state"] == "running" for j in jobs):
                break
            time.sleep(0.05)
        conv = [c.post(f"/v1/models/{mid}/conversions", json={"rank": 1}).json()["id"] for _ in range(2)]
        lat = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            assert c.get("/healthz").status_code == 200
            lat.append((time.perf_counter() - t0) * 1e3)
            time.sleep(0.005)
        busy = [c.get(f"/v1/jobs/{j}").json()["state"] for j in jobs]
        for j in jobs + conv:
            c.delete(f"/v1/jobs/{j}")
        for j in conv:
            wait_job(c, j)
    a = np.asarray(lat)
    print(f"/healthz with {workers} workers busy (states {busy}): {len(a)} requests, "
          f"p50 {np.percentile(a, 50):.2f} ms, p99 {np.percentile(a, 99):.2f} ms, max {a.max():.2f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--megabytes", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.onnx"
        size = big_model(path, args.megabytes)
        srv = Server(Path(tmp) / "data", workers=args.workers,
                     env={"SEPCONV_MAX_UPLOAD_BYTES": str(2 * size)}).start()
        try:
            upload_memory(srv, path, size)
            health_latency(srv, args.workers, args.seconds)
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
