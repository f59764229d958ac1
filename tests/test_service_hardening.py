"""The service under hostile input and operator mistakes (issue 19), over real HTTP against uvicorn:
a second server on a live data directory, odd bytes in a model, a store that fails in the middle of
an upload or cannot be written, query parameters past SQLite's integers, structures past the limits.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import sys
import time

import onnx
import pytest
from service_fixtures import REPO, Server, conv_model, free_port, upload, wait_job


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("hard") / "data", workers=1).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log.read_text()


def _running_job(c, seed: int) -> str:
    mid = upload(c, "/v1/models", conv_model(cin=16, cout=32, hw=128, seed=seed), "slow.onnx").json()["id"]
    job = c.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 2000}).json()["id"]
    deadline = time.monotonic() + 60
    while c.get(f"/v1/jobs/{job}").json()["state"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    return job


def test_second_server_on_the_same_data_dir(server):
    """The second server stops with one line naming the directory and the owner's pid, before it
    touches anything: the first one's running job is not marked interrupted and still succeeds."""
    with server.client() as c:
        job = _running_job(c, seed=1)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEPCONV_")}
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        second = subprocess.run([sys.executable, "-m", "sepconv.service", "--data-dir", str(server.data_dir),
                                 "--port", str(free_port()), "--workers", "1"],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert str(server.data_dir.resolve()) in lines[0] and f"pid {server.proc.pid}" in lines[0], lines[0]
        assert c.get(f"/v1/jobs/{job}").json()["state"] in ("running", "succeeded")  # not failed: interrupted
        done = wait_job(c, job, timeout=300)
        assert done["state"] == "succeeded", done


def _odd_name_model() -> bytes:
    """A Conv whose node name is not UTF-8 (same length as the placeholder, so the protobuf stays valid)."""
    model = onnx.load_from_string(conv_model(seed=3))
    model.graph.node[0].name = "X" * 8
    return model.SerializeToString().replace(b"X" * 8, b"\xff\xfe\x80\xc0conv", 1)


def test_name_that_is_not_utf8(server):
    with server.client() as c:
        r = upload(c, "/v1/models", _odd_name_model(), "odd.onnx")
        assert r.status_code == 422, r.text
        err = r.json()
        assert err["error"] == "invalid" and "not UTF-8" in err["message"] and "node.name" in err["message"], err
        assert c.get("/v1/models").status_code == 200


@contextlib.contextmanager
def _failing_inserts(server, table: str):
    """Every INSERT into ``table`` fails inside the server's own database (a trigger on a missing table)."""
    db = sqlite3.connect(server.data_dir / "sepconv.db", timeout=30)
    db.execute(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} BEGIN INSERT INTO nowhere VALUES (1); END")
    db.commit()
    try:
        yield
    finally:
        db.execute(f"DROP TRIGGER fail_{table}")
        db.commit()
        db.close()


def test_store_failure_during_an_upload_leaves_nothing(server):
    """The blob is in place before the row: when the row cannot be written, the blob goes again (503)."""
    data = conv_model(seed=4)
    sha = hashlib.sha256(data).hexdigest()
    blob = server.data_dir / "blobs" / sha[:2] / sha
    with server.client() as c:
        with _failing_inserts(server, "models"):
            r = upload(c, "/v1/models", data, "fails.onnx")
            assert r.status_code == 503 and r.json()["error"] == "storage_unavailable", r.text
            assert str(server.data_dir) not in r.text
        assert not blob.exists()
        assert list((server.data_dir / "tmp").iterdir()) == []
        assert all(m["sha256"] != sha for m in c.get("/v1/models").json()["items"])
        again = upload(c, "/v1/models", data, "fails.onnx")
        assert again.status_code == 201, again.text
        assert blob.is_file()


@pytest.mark.parametrize("route", ["/v1/models", "/v1/datasets", "/v1/jobs"])
def test_paging_past_sqlite_integers(server, route):
    with server.client() as c:
        for query in (f"offset={2 ** 63}", f"offset={2 ** 64 + 5}", "offset=-1", f"limit={10 ** 30}", "limit=-5",
                      "limit=0", "offset=1e9999", "limit=abc"):
            r = c.get(f"{route}?{query}")
            assert r.status_code == 422, (query, r.text)
            assert r.json()["error"] == "invalid" and r.json()["details"], (query, r.text)
        ok = c.get(f"{route}?limit=1000&offset={2 ** 31 - 1}")
        assert ok.status_code == 200 and ok.json()["items"] == [], ok.text


def test_readyz_writes(server):
    """/readyz writes and reads back a heartbeat row and a small file: a store that takes no writes is a
    503 that says which part failed."""
    with server.client() as c:
        assert c.get("/readyz").status_code == 200
        with _failing_inserts(server, "heartbeat"):
            r = c.get("/readyz")
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["checks"]["store_writable"] is False and body["checks"]["files_writable"] is True
            assert "job database" in body["reason"] and "nowhere" in body["reason"], body
        r = c.get("/readyz")
        assert r.status_code == 200, r.text
        tmp = server.data_dir / "tmp"
        tmp.rename(server.data_dir / "tmp-away")  # a file where the folder was: no write goes through
        tmp.write_bytes(b"")
        try:
            r = c.get("/readyz")
            assert r.status_code == 503 and r.json()["checks"]["files_writable"] is False, r.text
            assert r.json()["checks"]["store_writable"] is True
            assert "data directory" in r.json()["reason"] and str(server.data_dir) not in r.text
            up = upload(c, "/v1/models", conv_model(seed=5), "nowhere.onnx")  # an OSError on a write: 503
            assert up.status_code == 503 and up.json()["error"] == "storage_unavailable", up.text
            assert str(server.data_dir) not in up.text
        finally:
            tmp.unlink()
            (server.data_dir / "tmp-away").rename(tmp)
        assert c.get("/readyz").status_code == 200
