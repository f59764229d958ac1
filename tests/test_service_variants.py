"""``GET /v1/models/{id}/variants`` and the conversion tags, over real HTTP against a real server.

Three conversions of the small sample model (two fixed methods and int8 alone) and one of another
model: the variants page lists the first model's three, newest first, paged and bounded, with what
each asked for, gained and lost; the models list and the jobs list carry the same tags; the route is
in the OpenAPI schema with its response model. :func:`conversion_tag` on its own, for the spellings.
"""

from __future__ import annotations

import pytest
from sepconv.service.jobs.variants import asked, conversion_tag
from service_fixtures import REPO, conv_model, serving, upload, wait_job

SMALL = REPO / "sample_models" / "digits_small.onnx"
SMALL_DATA = REPO / "sample_models" / "digits_small_test.npz"
RUNS = [  # (options, the tag the service must give them)
    ({"method": "depthwise", "ratio": 0.3}, "depthwise ratio 0.3"),
    ({"method": "spatial", "rank": "full"}, "spatial full rank"),
    ({"method": "none", "precision": "int8"}, "int8"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("variants")) as c:
        yield c


@pytest.fixture(scope="module")
def made(client):
    """The small model, its three conversions (oldest first) and a conversion of another model."""
    mid = upload(client, "/v1/models", SMALL.read_bytes(), SMALL.name).json()["id"]
    did = upload(client, "/v1/datasets", SMALL_DATA.read_bytes(), SMALL_DATA.name).json()["id"]
    jobs = []
    for options, _ in RUNS:  # one after the other: their order in time is the order of RUNS
        job = client.post(f"/v1/models/{mid}/conversions", json={**options, "dataset_id": did}).json()
        jobs.append(wait_job(client, job["id"]))
    other = upload(client, "/v1/models", conv_model(seed=5), "other.onnx").json()["id"]
    wait_job(client, client.post(f"/v1/models/{other}/conversions", json={"method": "depthwise"}).json()["id"])
    wait_job(client, client.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 2}).json()["id"])
    return {"model": mid, "dataset": did, "jobs": jobs, "other": other}


def test_variants_lists_the_models_conversions(client, made):
    r = client.get(f"/v1/models/{made['model']}/variants")
    assert r.status_code == 200
    page = r.json()
    assert page["model_id"] == made["model"] and page["limit"] == 50 and page["offset"] == 0
    items = page["items"]
    assert [v["job_id"] for v in items] == [j["id"] for j in reversed(made["jobs"])]  # newest first, nothing else
    for v, job, (options, tag) in zip(items, reversed(made["jobs"]), reversed(RUNS), strict=True):
        assert v["state"] == "succeeded" and v["tag"] == tag
        assert v["method"] == options["method"] and v["dataset_id"] == made["dataset"]
        assert v["options"] == job["params"]["options"]  # what "convert again" fills in
        report = job["result"]["report"]
        assert v["macs_ratio"] == report["totals"]["conv_macs"]["ratio"]
        assert v["verdict"]["level"] == job["result"]["verdict"]["level"]
        assert "report" not in v and "layers" not in v  # a summary, not the report
        if job["result"]["model_id"]:
            stored = client.get(f"/v1/models/{job['result']['model_id']}").json()
            assert v["model_id"] == stored["id"] and v["name"] == stored["name"] == "digits_small.sepconv.onnx"
            assert v["size"] == stored["size"] and stored["tag"] == tag
        rel = max(o["rel_l2_error"] for o in report["verification"]["outputs"])
        assert v["error"] == pytest.approx(rel) and v["error_on"] == "verification"
        assert v["latency_ratio"] is None  # fixed methods and int8 alone measure no latency
    depthwise, spatial = items[2], items[1]
    assert depthwise["asked"] == [{"kind": "ratio", "value": 0.3, "default": False}]
    assert spatial["asked"] == [{"kind": "rank", "value": "full", "default": False}]
    assert items[0]["asked"] == [] and items[0]["precision"] == "int8" and items[0]["precision_chosen"] == "int8"
    assert depthwise["macs_ratio"] < spatial["macs_ratio"]  # ratio 0.3 keeps less than the full rank


def test_variants_pages_and_bounds(client, made):
    mid = made["model"]
    second = client.get(f"/v1/models/{mid}/variants", params={"limit": 1, "offset": 1}).json()
    assert [v["job_id"] for v in second["items"]] == [made["jobs"][1]["id"]]
    assert client.get(f"/v1/models/{mid}/variants", params={"offset": 3}).json()["items"] == []
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"}):
        r = client.get(f"/v1/models/{mid}/variants", params=bad)
        assert r.status_code == 422 and r.json()["status"] == 422, bad
    r = client.get("/v1/models/mdl_nothing/variants")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    other = client.get(f"/v1/models/{made['other']}/variants").json()["items"]
    assert len(other) == 1 and other[0]["tag"] == "depthwise ratio 0.5"  # the default policy, said
    assert other[0]["asked"] == [{"kind": "ratio", "value": 0.5, "default": True}]
    converted = made["jobs"][0]["result"]["model_id"]  # a converted model has variants of its own (none yet)
    assert client.get(f"/v1/models/{converted}/variants").json()["items"] == []


def test_tags_in_the_lists(client, made):
    models = client.get("/v1/models").json()["items"]
    by_id = {m["id"]: m for m in models}
    assert by_id[made["model"]]["tag"] is None  # an upload has no tag
    for job, (_, tag) in zip(made["jobs"], RUNS, strict=True):
        if job["result"]["model_id"]:
            assert by_id[job["result"]["model_id"]]["tag"] == tag
    jobs = {j["id"]: j for j in client.get("/v1/jobs").json()["items"]}
    for job, (_, tag) in zip(made["jobs"], RUNS, strict=True):
        assert jobs[job["id"]]["tag"] == tag
    assert all(j["tag"] is None for j in jobs.values() if j["kind"] == "benchmark")


def test_openapi_declares_the_route(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/models/{model_id}/variants"]["get"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/VariantPage")
    variant = spec["components"]["schemas"]["VariantOut"]["properties"]
    for name in ("tag", "macs_ratio", "latency_ratio", "error", "verdict", "options"):
        assert name in variant, name
    assert {p["name"] for p in op["parameters"]} >= {"model_id", "limit", "offset"}
    assert "tag" in spec["components"]["schemas"]["ModelOut"]["properties"]


@pytest.mark.parametrize(("options", "tag"), [
    ({"method": "auto", "max_error": 0.01, "precision": "int8"}, "auto 1% · int8"),
    ({"method": "auto", "max_error": None, "max_accuracy_drop": 0.5}, "auto −0.5 pt"),
    ({"method": "auto", "max_error": 0.05, "precision": "auto"}, "auto 5% · int8 auto"),
    ({"method": "none", "precision": "auto", "max_error": 0.005}, "int8 auto 0.5%"),
    ({"method": "spatial", "energy": 0.9, "include": "conv[23]"}, "spatial energy 0.9 · some layers"),
    ({"method": "depthwise", "rank": 4, "force": True}, "depthwise rank 4 · forced"),
    ({"method": "auto", "max_error": 0.02, "metric": "detections:boxes,scores", "max_metric_drop": 0.1},
     "auto 2% & detections −0.1"),
    ({"method": "none", "precision": "float"}, "no change"),
])
def test_conversion_tag(options, tag):
    assert conversion_tag(options) == tag


def test_asked_names_the_budget_only_where_one_applies():
    fixed = {"method": "depthwise", "max_error": 0.01}  # the service fills max_error in for every request
    assert asked(fixed) == [{"kind": "ratio", "value": 0.5, "default": True}]
    assert asked({"method": "spatial", "precision": "auto", "energy": 0.8, "max_error": 0.02}) == [
        {"kind": "energy", "value": 0.8, "default": False}, {"kind": "max_error", "value": 0.02, "default": False}]
