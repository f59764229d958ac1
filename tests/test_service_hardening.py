"""The service under hostile input and operator mistakes (issue 19), over real HTTP against uvicorn:
a second server on a live data directory, odd bytes in a model, a store that fails in the middle of
an upload or cannot be written, query parameters past SQLite's integers, structures past the limits.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import sqlite3
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from machine import scaled
from onnx import TensorProto, helper, numpy_helper
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
        cli = subprocess.run([sys.executable, "-m", "sepconv.cli.main", "serve", "--data-dir", str(server.data_dir),
                              "--port", str(free_port())], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=120)
        assert cli.returncode != 0 and cli.stderr.strip() == lines[0], cli.stderr  # `sepconv serve`: the same line
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


def _many_convs(count: int) -> bytes:
    """``count`` copies of one Conv node (about 30 bytes each): 200,000 of them are a 6 MB upload."""
    model = onnx.load_from_string(conv_model(seed=6))
    conv = model.graph.node[0]
    model.graph.node.extend([conv] * (count - 1))
    return model.SerializeToString()


def _many_initializers(count: int) -> bytes:
    model = onnx.load_from_string(conv_model(seed=7))
    extra = numpy_helper.from_array(np.zeros(1, np.float32), "extra")
    model.graph.initializer.extend([extra] * count)
    return model.SerializeToString()


def _nested(depth: int) -> bytes:
    """A Conv model whose Relu sits in ``depth`` nested If branches."""
    model = onnx.load_from_string(conv_model(seed=8))
    flag = numpy_helper.from_array(np.array(True), "flag")
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, None)
    body = helper.make_graph([helper.make_node("Relu", ["c"], ["output"])], "leaf", [], [out])
    for level in range(depth - 1):
        node = helper.make_node("If", ["flag"], ["output"], then_branch=body, else_branch=body, name=f"if{level}")
        body = helper.make_graph([node], f"level{level}", [], [out])
    del model.graph.node[1]
    model.graph.node.extend(body.node)
    model.graph.initializer.append(flag)
    return model.SerializeToString()


def test_structure_limits(server):
    """An upload past the structure bounds is a 413 naming the number; a real CNN is far below them."""
    with server.client() as c:
        for data, words in ((_many_convs(200_000), "200,001 nodes or more, over the limit of 100,000"),
                            (_many_initializers(100_001), "initializers or more, over the limit of 100,000"),
                            (_nested(17), "nested 17 deep, over the limit of 16")):
            r = upload(c, "/v1/models", data, "structure.onnx")
            assert r.status_code == 413 and r.json()["error"] == "too_large", r.text[:500]
            assert words in r.json()["message"], r.json()
        ok = upload(c, "/v1/models", _nested(3), "nested.onnx")
        assert ok.status_code == 201, ok.text


def test_lists_are_summaries(server):
    with server.client() as c:
        mid = upload(c, "/v1/models", conv_model(seed=9), "listed.onnx").json()["id"]
        one = c.get(f"/v1/models/{mid}").json()
        assert [layer["name"] for layer in one["analysis"]["layers"]] == ["conv1"]
        listed = next(m for m in c.get("/v1/models").json()["items"] if m["id"] == mid)
        assert "layers" not in listed["analysis"] and listed["analysis"]["convs"] == 1
        job = wait_job(c, c.post(f"/v1/models/{mid}/conversions", json={"verify": False}).json()["id"], timeout=120)
        assert job["state"] == "succeeded" and job["result"]["report"]["layers"], job
        row = next(j for j in c.get("/v1/jobs").json()["items"] if j["id"] == job["id"])
        assert "layers" not in row["result"]["report"] and row["result"]["model_id"] == job["result"]["model_id"]


def test_npz_ratio_over_all_members(server):
    """Members each under the per-member floor still add up: the ratio of all of them together counts."""
    per = (1 << 20) // 4 - 1  # float32s: just under 1 MiB each
    data = npz_compressed(**{f"z{i}": np.zeros(per, np.float32) for i in range(40)})
    assert len(data) < 1 << 20
    with server.client() as c:
        r = upload(c, "/v1/datasets", data, "zeros.npz")
        assert r.status_code == 413 and r.json()["error"] == "too_large", r.text
        assert "in all" in r.json()["message"] and "compression ratio" in r.json()["message"], r.json()
        fine = upload(c, "/v1/datasets", npz_compressed(x=np.zeros((2, 8, 16, 16), np.float32)), "small.npz")
        assert fine.status_code == 201, fine.text


def npz_compressed(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def test_wrong_method_names_every_allowed_one(server):
    with server.client() as c:
        for method, path, allow in (("OPTIONS", "/v1/models", "GET, POST"), ("PATCH", "/v1/models", "GET, POST"),
                                    ("OPTIONS", "/v1/models/mdl_x", "DELETE, GET"), ("PUT", "/v1/jobs", "GET"),
                                    ("OPTIONS", "/healthz", "GET")):
            r = c.request(method, path)
            assert r.status_code == 405 and r.headers["allow"] == allow, (method, path, r.headers, r.text)
            assert r.json()["error"] == "method_not_allowed" and allow in r.json()["message"], r.text
        assert c.post("/v1/models/mdl_x").headers["allow"] == "DELETE, GET"


def test_failure_messages_hide_server_paths(tmp_path):
    """A task's OSError names the file it failed on; the message that reaches a job or a 4xx does not."""
    from sepconv.service.embedded.worker import _failure

    secret = tmp_path / "data" / "tmp" / "upload-0123abcd.part"
    try:
        secret.read_bytes()
    except OSError as exc:
        kind, text = _failure(exc)[1:]
    assert kind == "internal" and "FileNotFoundError" in text and str(tmp_path) not in text and "/" not in text
    _, text = _failure(ValueError(f"cannot read {secret} (s3://bucket/prefix, redis://h:6379/0)"))[1:]
    assert str(tmp_path) not in text and "s3://bucket/prefix" in text and "redis://h:6379/0" in text, text


@pytest.mark.parametrize("kind", ["raw", "multipart"])
def test_an_upload_that_stops_arriving_times_out(tmp_path, kind):
    """Declare a big body, send 100 bytes and go quiet: 408 after SEPCONV_BODY_TIMEOUT_S, the
    connection closed, and the temp file gone (it held them until the client left)."""
    srv = Server(tmp_path / "data", workers=1, env={"SEPCONV_BODY_TIMEOUT_S": "1"}).start()
    try:
        if kind == "raw":
            ctype, start = "application/octet-stream", b"\x08" * 100
        else:
            ctype = "multipart/form-data; boundary=xyz"
            start = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="m.onnx"\r\n\r\n' + b"\x08" * 100
        head = (f"POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {100_000_000}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(30)) as sock:
            sock.sendall(head + start)
            answer = b""
            while chunk := sock.recv(65536):  # the server closes the connection after its answer
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert b" 408 " in status + b" ", answer[:300]
        assert b'"error":"body_timeout"' in rest and b"connection: close" in rest.lower(), answer[:600]
        assert list((srv.data_dir / "tmp").iterdir()) == []
        with srv.client() as c:
            assert c.get("/v1/models").json()["items"] == []
    finally:
        srv.stop()
    assert "Traceback" not in srv.log.read_text()


def test_blobs_no_record_names_are_swept_at_start(tmp_path):
    """A blob left without its record (a crash between the two) goes at the next start once it is past
    the grace period; a young one may be an upload whose record is on its way and stays, and a blob
    a model names stays whatever its age."""
    data_dir = tmp_path / "data"
    srv = Server(data_dir, workers=1).start()
    with srv.client() as c:
        kept = upload(c, "/v1/models", conv_model(seed=11), "kept.onnx").json()["sha256"]
    srv.stop()
    old_time = time.time() - 2 * 3600
    blob = data_dir / "blobs" / kept[:2] / kept
    os.utime(blob, (old_time, old_time))
    orphans = {}
    for name, age in (("old", old_time), ("young", time.time())):
        sha = hashlib.sha256(name.encode()).hexdigest()
        path = data_dir / "blobs" / sha[:2] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
        os.utime(path, (age, age))
        orphans[name] = path
    srv = Server(data_dir, workers=1).start()
    try:
        deadline = time.monotonic() + scaled(30)
        while orphans["old"].exists():
            assert time.monotonic() < deadline, "the old orphan was never swept"
            time.sleep(0.1)
        assert orphans["young"].exists() and blob.exists()
        with srv.client() as c:
            assert [m["sha256"] for m in c.get("/v1/models").json()["items"]] == [kept]
    finally:
        srv.stop()
