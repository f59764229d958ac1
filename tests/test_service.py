"""The service end to end, over real HTTP against a uvicorn the tests start on loopback.

Upload, convert, poll, download (checked in ONNX Runtime), benchmark, every bad input of the
issue, concurrent uploads and conversions, and a restart in the middle that loses nothing.
Everything runs twice: with the embedded worker pool, and with the Celery runner (a real
redis-server and a real ``sepconv worker`` process).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import signal
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from model_builders import low_rank_model
from service_fixtures import (
    REPO,
    Redis,
    Server,
    Worker,
    checker_failing_model,
    conv_model,
    external_data_model,
    no_conv_model,
    npz_bytes,
    upload,
    wait_job,
)


@pytest.fixture(scope="module", params=["embedded", "celery"])
def runner(request):
    return request.param


@pytest.fixture(scope="module")
def server(tmp_path_factory, runner):
    base = tmp_path_factory.mktemp(f"svc-{runner}")
    env = {"SEPCONV_CACHE_DIR": str(base / "cache")}
    broker = worker = None
    if runner == "celery":
        broker = Redis(base / "redis").start()
        env["SEPCONV_BROKER_URL"] = broker.url
        worker = Worker(broker.url, base / "data", concurrency=2, env=env).start()
    srv = Server(base / "data", workers=2, env=env).start()
    yield srv
    srv.stop()
    for part in (worker, broker):
        if part is not None:
            part.stop()
    assert "Traceback" not in srv.log.read_text(), srv.log.read_text()[-4000:]


@pytest.fixture(scope="module")
def client(server):
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def state():
    """What the end-to-end tests made, for the restart test to find again."""
    return {}


def _run(model_bytes: bytes, x: np.ndarray, name: str = "input") -> np.ndarray:
    sess = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    return sess.run(None, {name: x})[0]


def test_health(client, runner):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    checks = {"store_writable": True, "files_writable": True, "workers_alive": True}
    if runner == "celery":
        checks["broker_reachable"] = True
    assert r.status_code == 200 and r.json()["checks"] == checks
    assert "/v1/models" in client.get("/openapi.json").json()["paths"]


def test_upload_convert_download_benchmark(client, state, runner):
    data = conv_model(seed=1)
    r = upload(client, "/v1/models", data, "tiny.onnx")
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["sha256"] == hashlib.sha256(data).hexdigest() and m["size"] == len(data)
    assert m["opset"] == 17 and m["inputs"][0]["name"] == "input" and m["outputs"][0]["name"] == "output"
    assert m["analysis"]["convs"] == 1 and m["analysis"]["eligible_convs"] == 1
    assert m["analysis"]["conv_macs"] == 16 * 8 * 9 * 16 * 16
    again = upload(client, "/v1/models", data, "other-name.onnx")
    assert again.status_code == 200 and again.json()["id"] == m["id"]
    assert client.get(f"/v1/models/{m['id']}").json() == m
    assert m["id"] in [x["id"] for x in client.get("/v1/models").json()["items"]]

    x = np.random.default_rng(0).standard_normal((4, 8, 16, 16)).astype(np.float32)
    ds = upload(client, "/v1/datasets", npz_bytes(input=x), "calib.npz")
    assert ds.status_code == 201, ds.text
    assert ds.json()["arrays"] == [{"name": "input", "shape": [4, 8, 16, 16], "dtype": "float32"}]

    r = client.post(f"/v1/models/{m['id']}/conversions",
                    json={"method": "depthwise", "rank": "full", "force": True, "dataset_id": ds.json()["id"]})
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "queued" and r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["timings"]["run_s"] is not None and job["progress"]["fraction"] == 1.0
    report, conv_id = job["result"]["report"], job["result"]["model_id"]
    assert report["source"] == m["id"] and report["output"] == conv_id
    assert report["verification"] is not None
    conv = client.get(f"/v1/models/{conv_id}").json()
    assert conv["parent_id"] == m["id"] and conv["source_job"] == job["id"]
    assert conv["analysis"]["convs"] >= 1 and conv["sha256"] != m["sha256"]

    dl = client.get(f"/v1/models/{conv_id}/file")
    assert dl.status_code == 200 and dl.headers["x-content-sha256"] == conv["sha256"]
    onnx.checker.check_model(onnx.load_from_string(dl.content))
    x1 = x[:1]
    np.testing.assert_allclose(_run(dl.content, x1), _run(data, x1), rtol=1e-3, atol=1e-3)
    assert client.get(f"/v1/models/{m['id']}/file").content == data

    r = client.post("/v1/benchmarks", json={"model_ids": [m["id"], conv_id], "runs": 5, "warmup": 1,
                                            "dataset_id": ds.json()["id"]})
    assert r.status_code == 202, r.text
    bench = wait_job(client, r.json()["id"])
    assert bench["state"] == "succeeded", bench
    res = bench["result"]
    assert [x["name"] for x in res["models"]] == [m["id"], conv_id]
    for row in res["models"]:
        assert row["median_ms"] > 0 and row["p90_ms"] >= row["median_ms"] * 0.5 and row["throughput_per_s"] > 0
        assert "mean_ms" in row and len(row["times_ms"]) == 5 and row["times_ms_subsampled"] is False
    assert res["speedup"] > 0 and res["output_difference"]
    if runner == "celery":  # where it ran, from the bench queue's worker
        assert res["host"]["name"] and res["host"]["cpu"] and res["host"]["threads"] >= 1, res["host"]
    one = wait_job(client, client.post("/v1/benchmarks", json={"model_ids": [m["id"]], "runs": 3}).json()["id"])
    assert one["state"] == "succeeded" and "speedup" not in one["result"]
    state.update(model=m, converted=conv, dataset=ds.json(), jobs=[job["id"], bench["id"], one["id"]])


def test_spatial_and_failed_job_keeps_store_consistent(client):
    m = upload(client, "/v1/models", conv_model(seed=2), "t2.onnx").json()
    ok = wait_job(client, client.post(f"/v1/models/{m['id']}/conversions",
                                      json={"method": "spatial", "energy": 0.9}).json()["id"])
    assert ok["state"] == "succeeded", ok
    # input_shapes that fit the model's symbolic dims but not its weights: the job fails, the store stays as it was
    sym = upload(client, "/v1/models", conv_model(seed=2, shape=["N", "C", 16, 16]), "t2sym.onnx").json()
    before = {x["id"] for x in client.get("/v1/models").json()["items"]}
    r = client.post(f"/v1/models/{sym['id']}/conversions", json={"input_shapes": {"input": [1, 3, 16, 16]}})
    assert r.status_code == 202, r.text
    bad = wait_job(client, r.json()["id"])
    assert bad["state"] == "failed" and bad["error"]["message"], bad
    assert "Traceback" not in bad["error"]["message"]
    assert {x["id"] for x in client.get("/v1/models").json()["items"]} == before


@pytest.mark.parametrize("payload, status, code", [
    (b"this is not an onnx model at all", 415, "unsupported"),
    (conv_model()[:150], 415, "unsupported"),
    (checker_failing_model(), 422, "invalid"),
    (external_data_model(), 422, "invalid"),
    (external_data_model("/etc/passwd"), 422, "invalid"),
])
def test_bad_models_refused(client, payload, status, code):
    r = upload(client, "/v1/models", payload, "bad.onnx")
    assert (r.status_code, r.json()["error"]) == (status, code), r.text
    assert r.json()["message"] and "Traceback" not in r.text
    assert "/tmp" not in r.json()["message"] and "upload-" not in r.json()["message"]


def test_bad_requests(client):
    assert client.post("/v1/models", json={"file": "x"}).status_code == 415
    assert client.post("/v1/models", files={"other": ("a", b"abc")}).status_code == 400
    assert upload(client, "/v1/models", b"", "empty.onnx").status_code == 400
    assert client.post("/v1/models", content=b"--x\r\nbroken", headers={
        "content-type": "multipart/form-data; boundary=x"}).status_code == 400
    raw = client.post("/v1/models?name=../../etc/raw.onnx", content=conv_model(seed=5),
                      headers={"content-type": "application/octet-stream"})
    assert raw.status_code == 201 and raw.json()["name"] == "raw.onnx"
    assert upload(client, "/v1/datasets", b"not a zip", "x.npz").status_code == 415
    pickled = upload(client, "/v1/datasets", npz_bytes(input=np.array([{"a": 1}], dtype=object)), "p.npz")
    assert pickled.status_code == 422 and "pickle" in pickled.json()["message"]


def test_unknown_ids(client):
    for path in ("/v1/models/mdl_nope", "/v1/models/mdl_nope/file", "/v1/datasets/ds_nope", "/v1/jobs/job_nope",
                 "/v1/models/..%2F..%2Fetc%2Fpasswd/file"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
    assert client.delete("/v1/models/mdl_nope").status_code == 404
    assert client.post("/v1/models/mdl_nope/conversions", json={}).status_code == 404
    assert client.post("/v1/benchmarks", json={"model_ids": ["mdl_nope"]}).status_code == 404
    assert client.get("/v1/nothing").status_code == 404


def test_wrong_options(client):
    mid = upload(client, "/v1/models", conv_model(seed=3), "t3.onnx").json()["id"]
    url = f"/v1/models/{mid}/conversions"
    for body in ({"rank": 0}, {"method": "magic"}, {"energy": 2}, {"rank": 2, "energy": 0.5},
                 {"include": "(["}, {"rnak": 2}, {"input_shapes": {"nope": [1, 2]}}, {"threads": 0},
                 {"input_shapes": {"input": [1, -3]}}, {"rank": "most"}, {"dataset_id": "../x"},
                 # the service never runs code from a request: a metric file is refused, built-ins only
                 {"method": "auto", "metric": "/tmp/evil.py:f", "max_metric_drop": 0.1},
                 {"method": "auto", "metric": "top1_agreement"}, {"metric": "top1_agreement", "max_metric_drop": 0.1}):
        r = client.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"] == "invalid" and r.json()["message"], r.text
    r = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert client.post(url, json={"dataset_id": "ds_nope"}).status_code == 404
    assert client.post("/v1/benchmarks", json={"model_ids": []}).status_code == 422
    assert client.post("/v1/benchmarks", json={"model_ids": [mid, mid]}).status_code == 422
    assert client.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 0}).status_code == 422


def test_no_conv_model(client):
    r = upload(client, "/v1/models", no_conv_model(), "noconv.onnx")
    assert r.status_code == 422 and r.json()["error"] == "no_conv", r.text
    assert r.json()["status"] == 422 and "no Conv" in r.json()["message"] and "noconv.onnx" in r.json()["message"]
    assert "/tmp" not in r.json()["message"]
    assert all(x["name"] != "noconv.onnx" for x in client.get("/v1/models").json()["items"])


def test_input_shapes_must_fit_the_model(client):
    """input_shapes that contradict the model's fixed dims or rank: 422 at the request, naming the input and dim."""
    mid = upload(client, "/v1/models", conv_model(cin=1, cout=2, hw=32, seed=41), "fixed.onnx").json()["id"]
    for shapes, words in (({"input": [1, 1, 16, 16]}, ["'input'", "dim 2", "32", "16"]),
                          ({"input": [1, 1, 32]}, ["'input'", "rank 3", "rank 4"]),
                          ({"input": [2, 1, 32, 32]}, ["'input'", "dim 0", "fixed to 1"])):
        for url, body in ((f"/v1/models/{mid}/conversions", {"input_shapes": shapes}),
                          ("/v1/benchmarks", {"model_ids": [mid], "input_shapes": shapes, "runs": 1})):
            r = client.post(url, json=body)
            assert r.status_code == 422 and r.json()["error"] == "invalid", (url, shapes, r.text)
            msg = r.json()["message"]
            assert all(w in msg for w in words) and "--input-shape" not in msg, (words, msg)
    ok = client.post(f"/v1/models/{mid}/conversions", json={"input_shapes": {"input": [1, 1, 32, 32]}})
    assert ok.status_code == 202, ok.text
    assert wait_job(client, ok.json()["id"])["state"] == "succeeded"


def test_two_model_benchmark_inputs_must_fit(client):
    """Two models whose inputs differ (names, dtype, fixed dims), or a dataset that fits only
    one of them: 422 at the request, not a job failing in ONNX Runtime."""
    def mid(data: bytes, name: str) -> str:
        r = upload(client, "/v1/models", data, name)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    a = mid(conv_model(seed=51), "a.onnx")  # input: float32 1x8x16x16
    others = [(conv_model(seed=52, hw=32), ["dim 2", "16", "32"]),
              (conv_model(seed=53, input_name="image"), ["different inputs", "image"]),
              (conv_model(seed=54, dtype=np.float64), ["float32", "float64"])]
    for data, words in others:
        b = mid(data, "b.onnx")
        for pair in ([a, b], [b, a]):
            r = client.post("/v1/benchmarks", json={"model_ids": pair, "runs": 1})
            assert r.status_code == 422 and r.json()["error"] == "invalid", r.text
            assert all(w in r.json()["message"] for w in words), (words, r.text)
    # a symbolic batch fits a fixed one: accepted, and the inputs take the fixed size
    sym = mid(conv_model(seed=51, shape=["N", 8, 16, 16]), "sym.onnx")
    r = client.post("/v1/benchmarks", json={"model_ids": [sym, a], "runs": 2, "warmup": 0})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job
    # input_shapes are checked against both models
    r = client.post("/v1/benchmarks", json={"model_ids": [sym, a], "input_shapes": {"input": [4, 8, 16, 16]}})
    assert r.status_code == 422 and a in r.json()["message"] and "dim 0" in r.json()["message"], r.text
    # the dataset must fit both: 3 samples fit the symbolic batch, not a batch fixed to 2
    two = mid(conv_model(seed=51, shape=[2, 8, 16, 16]), "two.onnx")
    ds = upload(client, "/v1/datasets", npz_bytes(input=np.zeros((3, 8, 16, 16), np.float32)), "three.npz")
    assert ds.status_code == 201, ds.text
    for pair in ([sym, two], [two, sym]):
        r = client.post("/v1/benchmarks", json={"model_ids": pair, "dataset_id": ds.json()["id"], "runs": 1})
        assert r.status_code == 422 and two in r.json()["message"] and "3 samples" in r.json()["message"], r.text
        assert "/blobs/" not in r.json()["message"]


def test_budgets_the_request_cannot_check(client):
    """An accuracy budget without a dataset, or a ratio past 1: 422 at the request, naming the field."""
    mid = upload(client, "/v1/models", conv_model(seed=3), "t3.onnx").json()["id"]
    for body, words in (({"method": "auto", "max_accuracy_drop": 1.0}, "max_accuracy_drop 1.0: needs data"),
                        ({"ratio": 1.5}, "ratio 1.5: must be in (0, 1]")):
        r = client.post(f"/v1/models/{mid}/conversions", json=body)
        assert r.status_code == 422 and r.json()["error"] == "invalid", (body, r.text)
        assert words in r.json()["message"], r.text


def test_no_slash_redirects_and_json_405(client):
    for method, path, status in (("DELETE", "/v1/jobs/", 404), ("GET", "/v1/models/", 404),
                                 ("POST", "/v1/benchmarks/", 404), ("PUT", "/v1/models", 405),
                                 ("DELETE", "/v1/jobs", 405), ("PATCH", "/v1/jobs/job_x", 405)):
        r = client.request(method, path)
        assert r.status_code == status, (method, path, r.status_code, r.headers)
        assert r.headers["content-type"].startswith("application/json"), r.headers
        want = "not_found" if status == 404 else "method_not_allowed"
        assert r.json()["error"] == want and r.json()["status"] == status and r.json()["message"], r.text
        if status == 405:
            assert r.headers.get("allow"), r.headers


def test_npz_that_does_not_fit(client):
    mid = upload(client, "/v1/models", conv_model(seed=4), "t4.onnx").json()["id"]
    for arrays, words in (({"image": np.zeros((2, 8, 16, 16), np.float32)}, "no array for input"),
                          ({"input": np.zeros((2, 3, 16, 16), np.float32)}, "dim 1"),
                          ({"input": np.zeros((2, 8, 16, 16), np.float32), "labels": np.zeros(3, np.int64)},
                           "labels")):
        ds = upload(client, "/v1/datasets", npz_bytes(**arrays), "d.npz")
        assert ds.status_code == 201, ds.text
        r = client.post(f"/v1/models/{mid}/conversions", json={"dataset_id": ds.json()["id"]})
        assert r.status_code == 422 and words in r.json()["message"], r.text
        assert "/blobs/" not in r.json()["message"]
        b = client.post("/v1/benchmarks", json={"model_ids": [mid], "dataset_id": ds.json()["id"]})
        assert b.status_code == 422, b.text


def test_delete(client):
    data = conv_model(seed=9)
    m = upload(client, "/v1/models", data, "del.onnx").json()
    assert client.delete(f"/v1/models/{m['id']}").status_code == 204
    assert client.get(f"/v1/models/{m['id']}").status_code == 404
    assert client.get(f"/v1/models/{m['id']}/file").status_code == 404
    again = upload(client, "/v1/models", data, "del.onnx")
    assert again.status_code == 201 and again.json()["id"] != m["id"]
    assert client.get(f"/v1/models/{again.json()['id']}/file").content == data


def test_concurrent_uploads_and_conversions(client):
    models = [conv_model(seed=100 + i, cin=4, cout=8, hw=8) for i in range(8)]

    def one(i: int) -> tuple[str, str]:
        r = upload(client, "/v1/models", models[i], f"c{i}.onnx")
        assert r.status_code == 201, r.text
        j = client.post(f"/v1/models/{r.json()['id']}/conversions", json={"rank": 1, "verify": i % 2 == 0})
        assert j.status_code == 202, j.text
        return r.json()["id"], j.json()["id"]

    with cf.ThreadPoolExecutor(8) as pool:
        pairs = list(pool.map(one, range(8)))
    assert len({m for m, _ in pairs}) == 8
    jobs = [wait_job(client, j) for _, j in pairs]
    assert [j["state"] for j in jobs] == ["succeeded"] * 8, [j["error"] for j in jobs]
    listed = {x["id"] for x in client.get("/v1/models", params={"limit": 1000}).json()["items"]}
    assert {m for m, _ in pairs} | {j["result"]["model_id"] for j in jobs} <= listed
    assert len({j["result"]["model_id"] for j in jobs}) == 8


def test_auto_conversion(client):
    """method "auto" through the API on a model built to gain (both Convs nearly separable at
    rank 16, ~0.005 output error there against a 0.02 budget): the rewrite is accepted, within the
    budget on held-out data, and the downloaded model runs with that error."""
    rng = np.random.default_rng(5)
    mid = upload(client, "/v1/models", low_rank_model().SerializeToString(), "auto.onnx").json()["id"]
    x = rng.standard_normal((24, 64, 32, 32)).astype(np.float32)
    did = upload(client, "/v1/datasets", npz_bytes(x=x), "auto.npz").json()["id"]
    r = client.post(f"/v1/models/{mid}/conversions", json={"method": "auto", "dataset_id": did, "max_error": 0.02})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job
    report = job["result"]["report"]
    auto = report["auto"]
    assert auto["budget"]["max_error"] == 0.02 and auto["inputs"] == "data"
    assert auto["accepted"], auto["reason"]
    why = {"layers": [row["decision"] for row in auto["layers"]], "dropped": auto["dropped_steps"],
           "curve": [{k: row.get(k) for k in ("step", "layer", "predicted_latency_ratio", "fit_error")}
                     for row in auto["curve"]]}
    assert auto["chosen"]["layers_rewritten"] == 2 and auto["chosen"]["held_out_error"] <= 0.02, why
    out = client.get(f"/v1/models/{job['result']['model_id']}/file")
    assert out.status_code == 200
    y0 = _run(client.get(f"/v1/models/{mid}/file").content, x[:4], "x")
    y1 = _run(out.content, x[:4], "x")
    assert np.linalg.norm(y1 - y0) / np.linalg.norm(y0) <= 0.02
    assert len(onnx.load_from_string(out.content).graph.node) > len(onnx.load_from_string(
        client.get(f"/v1/models/{mid}/file").content).graph.node)


def test_int8_conversion(client):
    """precision "int8" with method "none" through the API: the job quantizes every layer on the
    uploaded data, the report says so, and the downloaded model is int8 (QDQ) and close."""
    rng = np.random.default_rng(6)
    mid = upload(client, "/v1/models", low_rank_model(channels=16, size=16).SerializeToString(), "q.onnx").json()["id"]
    x = rng.standard_normal((16, 16, 16, 16)).astype(np.float32)
    did = upload(client, "/v1/datasets", npz_bytes(x=x), "q.npz").json()["id"]
    bad = client.post(f"/v1/models/{mid}/conversions", json={"method": "none"})
    assert bad.status_code == 422 and "precision" in bad.json()["message"]
    r = client.post(f"/v1/models/{mid}/conversions", json={"method": "none", "precision": "int8", "dataset_id": did})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job
    report = job["result"]["report"]
    assert report["options"]["precision"] == "int8" and report["precision"]["chosen"] == "int8"
    assert all(row["precision"] == "int8" for row in report["layers"])
    out = client.get(f"/v1/models/{job['result']['model_id']}/file")
    assert out.status_code == 200
    assert "QuantizeLinear" in {n.op_type for n in onnx.load_from_string(out.content).graph.node}
    y0 = _run(client.get(f"/v1/models/{mid}/file").content, x[:4], "x")
    y1 = _run(out.content, x[:4], "x")
    assert 0 < np.linalg.norm(y1 - y0) / np.linalg.norm(y0) < 0.1


def test_verdict_and_no_copy_of_an_unchanged_model(client):
    """Each conversion's result carries the service's verdict: the digits' default depthwise
    conversion loses most of its top-1 answers and is judged broken (its download not the one
    recommended); one that rewrites nothing succeeds with its report and verdict, but stores no model."""
    model = (REPO / "sample_models" / "digits_small.onnx").read_bytes()
    mid = upload(client, "/v1/models", model, "digits_small.onnx").json()["id"]
    did = upload(client, "/v1/datasets", (REPO / "sample_models" / "digits_small_test.npz").read_bytes(),
                 "digits_small_test.npz").json()["id"]
    broken = wait_job(client, client.post(f"/v1/models/{mid}/conversions",
                                          json={"method": "depthwise", "dataset_id": did}).json()["id"])
    assert broken["state"] == "succeeded", broken
    v = broken["result"]["verdict"]
    assert v["level"] == "broken" and not v["recommend_download"] and broken["result"]["model_id"]
    before = {m["id"] for m in client.get("/v1/models", params={"limit": 1000}).json()["items"]}
    same = wait_job(client, client.post(f"/v1/models/{mid}/conversions",
                                        json={"method": "depthwise", "rank": 9999, "dataset_id": did}).json()["id"])
    assert same["state"] == "succeeded", same
    assert same["result"]["model_id"] is None and same["result"]["report"]["output"] is None
    assert same["result"]["verdict"]["level"] == "unchanged"
    assert "0 of 2 Convs rewritten" in same["result"]["verdict"]["summary"]
    assert {m["id"] for m in client.get("/v1/models", params={"limit": 1000}).json()["items"]} == before


def test_restart_finds_everything(server, client, state, runner):
    """Stop the server with a job running and one queued; after the restart every file and
    finished job is there, the running job failed as interrupted (with Celery: it went on on its
    worker and is followed again), the queued one ran."""
    big = conv_model(cin=32, cout=64, hw=64, seed=7)
    mid = upload(client, "/v1/models", big, "big.onnx").json()["id"]
    long_jobs = [client.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 5000}).json()["id"]
                 for _ in range(2)]
    queued = client.post(f"/v1/models/{mid}/conversions", json={"rank": 1, "verify": False}).json()["id"]
    for j in long_jobs:
        for _ in range(200):
            if client.get(f"/v1/jobs/{j}").json()["state"] == "running":
                break
            time.sleep(0.05)
    assert client.get(f"/v1/jobs/{queued}").json()["state"] == "queued"
    snapshot = {x["id"]: x for x in client.get("/v1/models", params={"limit": 1000}).json()["items"]}
    finished = {j["id"]: j for j in client.get("/v1/jobs", params={"limit": 1000}).json()["items"]
                if j["state"] in ("succeeded", "failed")}
    server.stop(signal.SIGKILL)  # the harshest stop: nothing gets to clean up
    server.start()
    with server.client() as c:
        after = {x["id"]: x for x in c.get("/v1/models", params={"limit": 1000}).json()["items"]}
        assert set(snapshot) <= set(after)
        for mid_, row in snapshot.items():
            assert after[mid_] == row
        listed = {j["id"]: j for j in c.get("/v1/jobs", params={"limit": 1000}).json()["items"]}
        for jid, job in finished.items():
            assert listed[jid] == job
        for j in long_jobs:
            job = c.get(f"/v1/jobs/{j}").json()
            if runner == "celery":  # still running on the worker: cancel it there
                assert job["state"] == "running", job
                job = c.delete(f"/v1/jobs/{j}").json()
                assert job["state"] == "failed" and job["error"]["kind"] == "cancelled", job
            else:
                assert job["state"] == "failed" and job["error"]["kind"] == "interrupted", job
        done = wait_job(c, queued)
        assert done["state"] == "succeeded", done
        conv = state["converted"]
        assert c.get(f"/v1/models/{conv['id']}/file").status_code == 200
        assert c.get(f"/v1/datasets/{state['dataset']['id']}").json() == state["dataset"]
        for jid in state["jobs"]:
            assert c.get(f"/v1/jobs/{jid}").json()["state"] == "succeeded"


