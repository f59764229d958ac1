"""The service's guards: API key, upload size (413), queue size (429), in-use deletes (409),
cancellation, and the retention setting."""

from __future__ import annotations

import time

import pytest
from service_fixtures import Server, conv_model, upload, wait_job

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
        mid = upload(c, "/v1/models", conv_model(cin=16, cout=32, hw=48, seed=11), "slow.onnx").json()["id"]
        running = c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 10000}).json()["id"]
        deadline = time.monotonic() + 30
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
            deadline = time.monotonic() + 60
            while any(c.get(p).status_code != 404 for p in gone) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert [c.get(p).status_code for p in gone] == [404, 404, 404]
        blobs = tmp_path / "data" / "blobs"
        deadline = time.monotonic() + 10  # the file goes right after the row, under the same lock
        while any(p.is_file() for p in blobs.rglob("*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(p.is_file() for p in blobs.rglob("*"))
    finally:
        srv.stop()
