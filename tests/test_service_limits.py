"""The service's guards: API key, upload size (413), queue size (429), in-use deletes (409),
cancellation, and the retention setting; declared sizes (a decompression bomb, an input sample
past the tensor limit: 413) and the job memory limit (SEPCONV_JOB_MEMORY_MB), watched from here
with psutil."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import psutil
import pytest
from bombs import npz_bomb
from machine import scaled
from sepconv.service.embedded import memory_limit
from sepconv.service.settings import Settings
from service_fixtures import Server, conv_model, npz_bytes, upload, wait_job

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("lim") / "data", workers=1, env={
        "SEPCONV_API_KEY": KEY, "SEPCONV_MAX_UPLOAD_BYTES": "300000", "SEPCONV_MAX_QUEUED_JOBS": "2"}).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log.read_text()


def test_api_key(server):
    with server.client() as c:
        r = c.get("/v1/models")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert c.get("/v1/models", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 200
        assert c.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert upload(c, "/v1/models", conv_model()).status_code == 401
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


def test_limits_queue_conflict_cancel(server):
    with server.client(headers={"X-API-Key": KEY}) as c:
        big = upload(c, "/v1/models", b"\0" * 400_000, "huge.onnx")
        assert big.status_code == 413 and big.json()["error"] == "too_large", big.text
        raw = c.post("/v1/models", content=b"\0" * 400_000, headers={"content-type": "application/octet-stream"})
        assert raw.status_code == 413
        mid = upload(c, "/v1/models", conv_model(cin=16, cout=32, hw=256, seed=11), "slow.onnx").json()["id"]
        running = c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 10000}).json()["id"]
        deadline = time.monotonic() + scaled(30)
        while c.get(f"/v1/jobs/{running}").json()["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        queued = [c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 1}) for _ in range(2)]
        assert [q.status_code for q in queued] == [202, 202]
        full = c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 1})
        assert full.status_code == 429 and full.json()["error"] == "queue_full" and "retry-after" in full.headers
        d = c.delete(f"/v1/models/{mid}")
        assert d.status_code == 409 and d.json()["error"] == "conflict" and "job_" in d.json()["message"]
        r = c.delete(f"/v1/jobs/{running}")
        assert r.status_code == 200 and r.json()["state"] == "failed" and r.json()["error"]["kind"] == "cancelled"
        done = [wait_job(c, q.json()["id"]) for q in queued]
        assert [j["state"] for j in done] == ["succeeded", "succeeded"]
        assert c.delete(f"/v1/jobs/{running}").status_code == 409
        assert c.delete(f"/v1/models/{mid}").status_code == 204
        assert c.get("/readyz").json()["checks"]["workers_alive"] is True


def test_retention(tmp_path):
    """Finished jobs, models and datasets past the retention age go, with their files. The age is
    a few seconds: long enough that a loaded machine cannot expire the model between the upload and
    the conversion request, and a job counts from when it finished, so polling it never races."""
    srv = Server(tmp_path / "data", workers=1, env={
        "SEPCONV_RETENTION_DAYS": str(3 / 86400), "SEPCONV_RETENTION_INTERVAL_S": "1"}).start()
    try:
        with srv.client() as c:
            mid = upload(c, "/v1/models", conv_model(seed=21), "old.onnx").json()["id"]
            r = c.post(f"/v1/models/{mid}/conversions", json={"verify": False})
            assert r.status_code == 202, r.text
            job = wait_job(c, r.json()["id"], timeout=120)
            assert job["state"] == "succeeded"
            gone = [f"/v1/models/{mid}", f"/v1/jobs/{job['id']}", f"/v1/models/{job['result']['model_id']}"]
            deadline = time.monotonic() + scaled(60)
            while any(c.get(p).status_code != 404 for p in gone) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert [c.get(p).status_code for p in gone] == [404, 404, 404]
        blobs = tmp_path / "data" / "blobs"
        deadline = time.monotonic() + scaled(10)  # the file goes right after the row, under the same lock
        while any(p.is_file() for p in blobs.rglob("*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(p.is_file() for p in blobs.rglob("*"))
    finally:
        srv.stop()


# -- declared sizes and the job memory limit -------------------------------------------------------
#: the job memory limit of the `bounded` server; a small conversion needs ~230 MB of it (with 2
#: threads: each ONNX Runtime thread's 8 MB stack counts, so the jobs that must pass name 2)
MEMORY_MB = 512
#: what a process may hold resident beyond its limit: the limit bounds private memory, and the
#: shared libraries' pages (numpy, onnx, ONNX Runtime: ~60 MB) are resident besides
MARGIN_MB = 128
MB = 1 << 20


class Watch:
    """Samples, in threads, the resident memory of the server and all its children every 20 ms,
    and /readyz every 100 ms, until stopped."""

    def __init__(self, server: Server) -> None:
        self.server, self.root = server, psutil.Process(server.proc.pid)
        self.peak: dict[int, tuple[int, str]] = {}  # pid -> (largest RSS seen, command line)
        self.ready: list[int] = []  # /readyz statuses
        self.not_ready: list[str] = []  # the bodies (or errors) of its other answers
        self.samples = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rss, daemon=True),
                         threading.Thread(target=self._readyz, daemon=True)]
        for t in self._threads:
            t.start()

    def _rss(self) -> None:
        while not self._stop.is_set():
            for p in [self.root, *self._children()]:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                if rss > self.peak.get(p.pid, (0, ""))[0]:
                    self.peak[p.pid] = (rss, self.peak.get(p.pid, (0, ""))[1] or _name(p))
            self.samples += 1
            self._stop.wait(0.02)

    def _children(self) -> list[psutil.Process]:
        try:
            return self.root.children(recursive=True)
        except psutil.Error:
            return []

    def _readyz(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=10) as c:
            while not self._stop.is_set():
                try:
                    r = c.get("/readyz")
                    self.ready.append(r.status_code)
                    if r.status_code != 200:
                        self.not_ready.append(r.text[:300])
                except httpx.HTTPError as exc:
                    self.ready.append(0)
                    self.not_ready.append(repr(exc)[:300])
                self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def largest(self) -> tuple[int, int, str]:
        """(RSS in MB, pid, what) of the largest process seen."""
        pid, (rss, what) = max(self.peak.items(), key=lambda kv: kv[1][0])
        return rss // MB, pid, what


def _name(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())[-80:]
    except psutil.Error:
        return "?"


@pytest.fixture(scope="module")
def bounded(tmp_path_factory):
    """Two workers under a 512 MB job memory limit, datasets up to 1 MiB declared."""
    srv = Server(tmp_path_factory.mktemp("mem") / "data", workers=2, env={
        "SEPCONV_API_KEY": KEY, "SEPCONV_JOB_MEMORY_MB": str(MEMORY_MB),
        "SEPCONV_MAX_DATASET_BYTES": str(1 << 20)}).start()
    watch = Watch(srv)
    yield srv, watch
    watch.stop()
    srv.stop()
    assert "Traceback" not in srv.log.read_text()


def _within_limits(watch: Watch) -> None:
    rss, pid, what = watch.largest()
    print(f"largest resident: {rss} MB (pid {pid}: {what}); {watch.samples} samples; "
          f"{len(watch.ready)} /readyz answers")
    assert watch.samples > 10
    assert rss < MEMORY_MB + MARGIN_MB, (rss, what)
    assert watch.ready and set(watch.ready) == {200}, watch.not_ready[:3]


def test_dataset_bomb_refused_at_upload(bounded, tmp_path):
    """4 MB on disk declaring (1000000, 1, 32, 32) float32 = 4 GB: 413 from the .npy header, with
    the declared size and the limit; an honest dataset over SEPCONV_MAX_DATASET_BYTES too."""
    srv, watch = bounded
    bomb = npz_bomb(tmp_path / "bomb.npz", (1_000_000, 1, 32, 32))
    assert bomb.stat().st_size < 8 << 20
    with srv.client(headers={"X-API-Key": KEY}) as c:
        r = upload(c, "/v1/datasets", bomb.read_bytes(), "bomb.npz")
        assert r.status_code == 413 and r.json()["error"] == "too_large", r.text
        msg = r.json()["message"]
        assert "bomb.npz" in msg and "declares 3.8 GiB" in msg and "limit of 100" in msg, msg
        honest = npz_bytes(x=np.random.default_rng(0).standard_normal((64, 8, 32, 32)).astype(np.float32))
        r = upload(c, "/v1/datasets", honest, "honest.npz")
        assert r.status_code == 413 and r.json()["error"] == "too_large", r.text
        assert "2.0 MiB in all, over the limit of 1.0 MiB (SEPCONV_MAX_DATASET_BYTES)" in r.json()["message"]
        assert c.get("/v1/datasets").json()["items"] == []
    _within_limits(watch)


def test_input_sample_past_the_tensor_limit(bounded):
    """input_shapes whose one sample is past SEPCONV_MAX_TENSOR_BYTES: 413 before anything is
    queued; a large batch of small samples is fine (run in pieces, verification draws max_samples)."""
    srv, watch = bounded
    with srv.client(headers={"X-API-Key": KEY}) as c:
        mid = upload(c, "/v1/models", conv_model(shape=["N", 8, "H", "W"]), "free.onnx").json()["id"]
        big = {"input": [1, 8, 8192, 8192]}  # 2 GiB per sample
        for path, body in ((f"/v1/models/{mid}/conversions", {"input_shapes": big}),
                           ("/v1/benchmarks", {"model_ids": [mid], "input_shapes": big})):
            r = c.post(path, json=body)
            assert r.status_code == 413 and r.json()["error"] == "too_large", r.text
            assert "one sample is 2.0 GiB (8x8192x8192 float32), over the limit of 256.0 MiB" in r.json()["message"]
        assert c.get("/v1/jobs").json()["items"] == []
        batch = c.post(f"/v1/models/{mid}/conversions", json={"input_shapes": {"input": [100_000, 8, 8, 8]},
                                                              "threads": 2})
        data = npz_bytes(input=np.random.default_rng(1).standard_normal((16, 8, 8, 8)).astype(np.float32))
        did = upload(c, "/v1/datasets", data, "sixteen.npz").json()["id"]
        drawn = c.post(f"/v1/models/{mid}/conversions", json={"dataset_id": did, "max_samples": 4, "threads": 2})
        assert batch.status_code == drawn.status_code == 202, (batch.text, drawn.text)
        jobs = [wait_job(c, r.json()["id"], timeout=60) for r in (batch, drawn)]
        assert [j["state"] for j in jobs] == ["succeeded", "succeeded"], [j["error"] for j in jobs]
        checked = jobs[1]["result"]["report"]["verification"]
        assert (checked["samples"], checked["samples_given"]) == (4, 16), checked
        assert c.post(f"/v1/models/{mid}/conversions", json={"max_samples": 0}).status_code == 422
    _within_limits(watch)


def test_job_past_the_memory_limit_fails_alone(bounded):
    """Jobs that need more than the limit fail with the limit named and their workers are replaced,
    while a small job submitted with them succeeds; no process holds more than the limit, /readyz
    is ready throughout. Past the limit: numpy's random inputs (MemoryError), ONNX Runtime's
    activations (its allocation error), and 64 ONNX Runtime threads whose 8 MB stacks do not fit
    (session creation hangs: the worker's watch ends it)."""
    srv, watch = bounded
    root = psutil.Process(srv.proc.pid)
    with srv.client(headers={"X-API-Key": KEY}) as c:
        narrow = upload(c, "/v1/models", conv_model(shape=["N", 8, "H", "W"]), "narrow.onnx").json()["id"]
        wide = upload(c, "/v1/models", conv_model(cout=256, shape=["N", 8, "H", "W"]), "wide.onnx").json()["id"]
        small = upload(c, "/v1/models", conv_model(seed=5), "small.onnx").json()["id"]
        before = {p.pid for p in root.children(recursive=True)}
        jobs = [c.post(f"/v1/models/{wide}/conversions", json={"input_shapes": {"input": [1, 8, 512, 512]}}),
                c.post(f"/v1/models/{small}/conversions", json={"threads": 2}),
                c.post(f"/v1/models/{narrow}/conversions", json={"input_shapes": {"input": [1, 8, 1024, 1024]}}),
                c.post(f"/v1/models/{small}/conversions", json={"threads": 64})]
        assert [j.status_code for j in jobs] == [202] * 4, [j.text for j in jobs]
        done = [wait_job(c, j.json()["id"], timeout=90) for j in jobs]
        assert [d["state"] for d in done] == ["failed", "succeeded", "failed", "failed"], done
        for d in (done[0], done[2], done[3]):
            assert d["error"] == {"kind": "memory", "message": f"the job needed more than {MEMORY_MB} MB "
                                                               "(SEPCONV_JOB_MEMORY_MB)"}, d["error"]
        after = {p.pid for p in root.children(recursive=True)}
        assert before - after and after - before, "the workers of the failed jobs were replaced"
        again = c.post(f"/v1/models/{small}/conversions", json={"seed": 1, "threads": 2})
        assert wait_job(c, again.json()["id"], timeout=60)["state"] == "succeeded"
        assert c.get("/readyz").json()["checks"]["workers_alive"] is True
    _within_limits(watch)


def test_job_memory_setting_and_failures(monkeypatch):
    """SEPCONV_JOB_MEMORY_MB: a bad value is one line naming it; the default is a share of the
    machine's memory, at least 512 MB; allocation failures are recognised when wrapped too."""
    for bad, why in (("lots", "expected a whole number"), ("100", "must be at least 256")):
        monkeypatch.setenv("SEPCONV_JOB_MEMORY_MB", bad)
        with pytest.raises(ValueError, match=f"^SEPCONV_JOB_MEMORY_MB='{bad}': {why}"):
            Settings.from_env()
        with pytest.raises(ValueError, match=f"^SEPCONV_JOB_MEMORY_MB='{bad}': "):
            memory_limit.job_memory_mb(2)
    monkeypatch.setenv("SEPCONV_JOB_MEMORY_MB", "700")
    assert Settings.from_env().job_memory_limit_mb() == memory_limit.job_memory_mb(4) == 700
    monkeypatch.delenv("SEPCONV_JOB_MEMORY_MB")
    total = memory_limit.machine_memory_mb()
    assert memory_limit.job_memory_mb(2) == max(512, int(total * 0.8 / 2))
    assert Settings.from_env().job_memory_limit_mb() == max(512, int(total * 0.8 / 3))  # the validator too

    def wrapped(text: str) -> Exception:
        try:
            try:
                raise RuntimeError(text)
            except RuntimeError:
                raise memory_limit.SepconvError("ONNX Runtime failed to run the model: [ONNXRuntimeError] "
                                                "... Name:'conv'") from None
        except memory_limit.SepconvError as exc:
            return exc

    ort = wrapped("bfc_arena.cc:360 AllocateRawInternal Failed to allocate memory for requested buffer")
    assert str(memory_limit.memory_failure(ort, 300)) == "the job needed more than 300 MB (SEPCONV_JOB_MEMORY_MB)"
    assert memory_limit.memory_failure(MemoryError(), 300).kind == "memory"
    assert memory_limit.memory_failure(wrapped("bad shape"), 300) is None
