"""The blob store on an S3-compatible object store (moto's server mode on loopback): files go up
and come down streamed and checked, a store on another machine (an empty cache) finds them, and
the service converts with the API and a worker that share no directory, only the bucket."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest
from sepconv.service.storage.blob_backends import S3Blobs
from sepconv.service.storage.blob_store import BlobStore
from service_fixtures import Moto, Redis, Server, Worker, conv_model, upload, wait_job


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = Moto(tmp_path_factory.mktemp("moto")).start()
    server.client().create_bucket(Bucket="sepconv")
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def _file(path, size: int, seed: int = 0) -> str:
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB
    with open(path, "wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_up_down_and_across_machines(moto, tmp_path):
    a = BlobStore(tmp_path / "a", S3Blobs("s3://sepconv/models/v1"))
    src = a.tmp / "in"
    sha = _file(src, 4 << 20)
    a.adopt(src, sha)
    key = f"models/v1/{sha[:2]}/{sha}"
    assert moto.client().head_object(Bucket="sepconv", Key=key)["ContentLength"] == 4 << 20
    assert a.path(sha).is_file() and not src.exists()
    b = BlobStore(tmp_path / "b", S3Blobs("s3://sepconv/models/v1"))  # another machine: nothing local
    assert b.exists(sha) and not (tmp_path / "b" / "blobs" / sha[:2] / sha).exists()
    copy, fetched = b.local_copy(sha, tmp_path)
    assert fetched and hashlib.sha256(copy.read_bytes()).hexdigest() == sha
    assert b.path(sha).read_bytes() == copy.read_bytes()  # now in b's cache
    b.remove(sha)
    assert not moto.client().list_objects_v2(Bucket="sepconv", Prefix=key).get("Contents")
    with pytest.raises(KeyError):
        b.local_copy(sha, tmp_path)
    assert b.writable() and not BlobStore(tmp_path / "c", S3Blobs("s3://no-such-bucket")).writable()


def test_streamed_not_held_in_memory(moto, tmp_path):
    """A 48 MiB blob goes up and comes down with well under its size in Python memory."""
    store = BlobStore(tmp_path / "s", S3Blobs("s3://sepconv/big"))
    src = store.tmp / "big"
    sha = _file(src, 48 << 20, seed=1)
    tracemalloc.start()
    try:
        store.adopt(src, sha, keep_local=False)
        copy, _ = store.local_copy(sha, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert copy.stat().st_size == 48 << 20 and peak < 24 << 20, peak


def test_service_through_the_bucket(moto, tmp_path):
    """API and worker with separate data directories: models reach the worker and back only via S3."""
    broker = Redis(tmp_path / "redis").start()
    env = {**moto.env, "SEPCONV_BROKER_URL": broker.url, "SEPCONV_BLOB_URL": "s3://sepconv/svc"}
    worker = Worker(broker.url, tmp_path / "worker-data", env=env).start()
    srv = Server(tmp_path / "api-data", env=env).start()
    try:
        with srv.client() as c:
            data = conv_model(seed=61)
            mid = upload(c, "/v1/models", data, "s3.onnx").json()["id"]
            job = wait_job(c, c.post(f"/v1/models/{mid}/conversions", json={"method": "depthwise"}).json()["id"])
            assert job["state"] == "succeeded", job
            conv = c.get(f"/v1/models/{job['result']['model_id']}").json()
            keys = {o["Key"] for o in moto.client().list_objects_v2(Bucket="sepconv", Prefix="svc/")["Contents"]}
            assert {f"svc/{s[:2]}/{s}" for s in (conv["sha256"], hashlib.sha256(data).hexdigest())} <= keys
            dl = c.get(f"/v1/models/{conv['id']}/file")
            assert dl.status_code == 200 and hashlib.sha256(dl.content).hexdigest() == conv["sha256"]
            bench = wait_job(c, c.post("/v1/benchmarks", json={"model_ids": [mid, conv["id"]], "runs": 3}).json()["id"])
            assert bench["state"] == "succeeded", bench
        # the worker kept nothing: inputs were fetched to scratch files and removed, the output went up
        assert not [p for p in (tmp_path / "worker-data").rglob("*") if p.is_file() and p.suffix != ".log"]
    finally:
        srv.stop()
        worker.stop()
        broker.stop()
