"""The Celery runner's speed (a benchmark, not a test): run ``python benchmarks/celery_bench.py``.

Needs redis-server on PATH; starts its own Redis, ``sepconv worker`` processes and API on loopback.

1. Throughput: eight conversions of the sample model ``digits_wide.onnx`` (spatial, eight ranks,
   verified on its 450 test images, about 2 s each), submitted at once, with one single-threaded
   worker and with two (each ``--concurrency 1``, ``threads: 1``): wall time until all are done,
   and the ratio (aim: two workers at least 1.7x the throughput of one). Each is run ``--repeat``
   times, alternating, and the fastest run of each counts (other load on the host only slows a run).
2. Queue overhead: small conversions (``digits_small.onnx``) one after another, so none waits
   behind another: how long each one waits before it starts (``timings.queued_s``) and from the
   request to the client seeing it done, with the embedded pool and with Celery; the difference
   is what the broker adds per job (aim: under 50 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "devtools"))
from local_stack import Redis, Server, Worker, upload  # noqa: E402

RANKS = [{"ratio": r} for r in (0.3, 0.4, 0.5, 0.6)] + [{"energy": e} for e in (0.8, 0.85, 0.9, 0.95)]


def finish(client: httpx.Client, job_id: str, poll_s: float = 0.005, timeout: float = 600) -> dict:
    """Poll until done (every 5 ms for latencies; less often where the polling would take CPU from the jobs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(poll_s)
    raise TimeoutError(job_id)


class Stack:
    """Redis, ``workers`` single-threaded workers and the API; or the embedded pool when ``workers`` is 0."""

    def __init__(self, base: Path, workers: int, embedded_workers: int = 1) -> None:
        self.parts: list = []
        base.mkdir(parents=True, exist_ok=True)
        env = {"OMP_NUM_THREADS": "1"}
        if workers:
            redis = Redis(base / "redis").start()
            self.parts.append(redis)
            env["SEPCONV_BROKER_URL"] = redis.url
            self.parts += [Worker(redis.url, base / "data", env=env, name=f"w{i}").start() for i in range(workers)]
        self.server = Server(base / "data", workers=embedded_workers, env=env).start()

    def worker_cpu_s(self) -> float:
        """CPU seconds the workers and their pool processes have used so far."""
        total = 0.0
        for w in self.parts[1:]:
            main = psutil.Process(w.proc.pid)
            for p in [main, *main.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
        return total

    def close(self) -> None:
        self.server.stop()
        for part in reversed(self.parts):
            part.stop()


def throughput(base: Path, workers: int) -> tuple[float, float]:
    """Wall time of the eight conversions, and the CPU cores the workers got meanwhile (CPU s / wall s)."""
    stack = Stack(base / f"tp{workers}", workers)
    try:
        with stack.server.client() as c:
            mid = upload(c, "/v1/models", (ROOT / "sample_models/digits_wide.onnx").read_bytes(), "wide.onnx")
            mid = mid.json()["id"]
            did = upload(c, "/v1/datasets", (ROOT / "sample_models/digits_wide_test.npz").read_bytes(), "test.npz")
            did = did.json()["id"]
            t0, cpu0 = time.perf_counter(), stack.worker_cpu_s()
            jobs = [c.post(f"/v1/models/{mid}/conversions",
                           json={"method": "spatial", "threads": 1, "dataset_id": did, **rank}).json()
                    for rank in RANKS]
            done = [finish(c, j["id"], poll_s=0.1) for j in jobs]
            wall = time.perf_counter() - t0
            cores = (stack.worker_cpu_s() - cpu0) / wall
        assert all(d["state"] == "succeeded" for d in done), [d["error"] for d in done]
        return wall, cores
    finally:
        stack.close()


def overhead(base: Path, workers: int, n: int) -> tuple[float, float]:
    """Median queued_s and median request-to-done latency of ``n`` small conversions, one at a time."""
    stack = Stack(base / f"ov{workers}", workers)
    try:
        with stack.server.client() as c:
            mid = upload(c, "/v1/models", (ROOT / "sample_models/digits_small.onnx").read_bytes(), "small.onnx")
            mid = mid.json()["id"]
            queued, latency = [], []
            for i in range(n + 2):
                t0 = time.perf_counter()
                job = c.post(f"/v1/models/{mid}/conversions",
                             json={"method": "depthwise", "rank": 1 + i % 4, "verify": False, "threads": 1}).json()
                done = finish(c, job["id"])
                if i >= 2:  # the first two warm the worker up
                    latency.append(time.perf_counter() - t0)
                    queued.append(done["timings"]["queued_s"])
        return statistics.median(queued), statistics.median(latency)
    finally:
        stack.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20, help="small conversions for the overhead measurement")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each throughput configuration (the fastest counts)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        runs: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        for i in range(args.repeat):
            for workers in (1, 2):
                runs[workers].append(throughput(base / f"r{i}", workers))
        (one, c1), (two, c2) = min(runs[1]), min(runs[2])
        print(f"8 verified conversions of digits_wide.onnx, fastest of {args.repeat}: 1 worker {one:.2f} s "
              f"(the workers got {c1:.2f} cores), 2 workers {two:.2f} s ({c2:.2f} cores): throughput ratio "
              f"{one / two:.2f}x (aim >= 1.7x); host load average {psutil.getloadavg()[0]:.1f} on "
              f"{psutil.cpu_count()} CPUs")
        eq, el = overhead(base, 0, args.jobs)
        cq, cl = overhead(base, 1, args.jobs)
        print(f"small conversions one at a time (median of {args.jobs}): queued_s embedded {eq * 1000:.1f} ms, "
              f"celery {cq * 1000:.1f} ms; request-to-done embedded {el * 1000:.1f} ms, celery {cl * 1000:.1f} ms")
        print(f"added per job by the broker: {(cq - eq) * 1000:.1f} ms waiting to start, "
              f"{(cl - el) * 1000:.1f} ms request-to-done (aim < 50 ms)")


if __name__ == "__main__":
    main()
