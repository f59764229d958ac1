"""``POST /v1/benchmarks`` comparing several models, over real HTTP against a real server: three
models in one job (speedup and output difference of each against the first), the batch asked for
timed, a model that fixes another batch refused before queueing, seven models refused, and top-1
accuracy per model on a labelled dataset (none, with the reason, on an unlabelled one)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from service_fixtures import REPO, npz_bytes, serving, upload, wait_job

SMALL = REPO / "sample_models" / "digits_small.onnx"
SMALL_DATA = REPO / "sample_models" / "digits_small_test.npz"


def _variant(seed: int | None = None, fixed: int | None = None) -> bytes:
    """The sample model with its weights nudged (``seed``: a different model, whose outputs differ
    a little), or with its batch dim fixed to ``fixed``."""
    model = onnx.load(SMALL)
    if seed is not None:
        rng = np.random.default_rng(seed)
        for i, t in enumerate(model.graph.initializer):
            a = numpy_helper.to_array(t)
            if a.dtype == np.float32 and a.size > 1:
                a = a * (1 + 0.01 * rng.standard_normal(a.shape)).astype(np.float32)
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(a, t.name))
    if fixed is not None:
        for v in [*model.graph.input, *model.graph.output]:
            v.type.tensor_type.shape.dim[0].dim_value = fixed
    return model.SerializeToString()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("compare")) as c:
        yield c


@pytest.fixture(scope="module")
def made(client):
    ids = [upload(client, "/v1/models", SMALL.read_bytes(), SMALL.name).json()["id"]]
    ids += [upload(client, "/v1/models", _variant(seed=s), f"nudged{s}.onnx").json()["id"] for s in (1, 2)]
    fixed = upload(client, "/v1/models", _variant(fixed=1), "fixed1.onnx").json()["id"]
    labelled = upload(client, "/v1/datasets", SMALL_DATA.read_bytes(), SMALL_DATA.name).json()["id"]
    x = np.random.default_rng(0).standard_normal((20, 1, 8, 8)).astype(np.float32)
    unlabelled = upload(client, "/v1/datasets", npz_bytes(input=x), "nolabels.npz").json()["id"]
    return {"models": ids, "fixed": fixed, "labelled": labelled, "unlabelled": unlabelled}


def _bench(client, **body) -> dict:
    r = client.post("/v1/benchmarks", json={"runs": 3, "warmup": 1, **body})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    assert job["state"] == "succeeded", job
    return job["result"]


def test_three_models_on_a_labelled_dataset_at_the_batch_asked(client, made):
    r = _bench(client, model_ids=made["models"], dataset_id=made["labelled"], batch=16)
    assert r["batch_size"] == 16 and r["inputs"]["batch"] == 16
    assert r["inputs"]["source"] == "data" and r["inputs"]["dataset_id"] == made["labelled"]
    assert r["inputs"]["dataset_name"] == SMALL_DATA.name
    models = r["models"]
    assert [m["name"] for m in models] == made["models"]
    assert models[0]["speedup"] is None and models[0]["output_difference"] is None
    for m in models[1:]:
        assert m["speedup"] > 0
        (out,) = m["output_difference"]
        assert out["name"] == "logits" and 0 < out["rel_l2_error"] < 0.5 and out["cosine_similarity"] > 0.9
    assert "speedup" not in r  # the top-level pair keys are for two models only
    assert r["accuracy_samples"] == 256 and r["accuracy_note"] is None
    for m in models:
        assert 0.0 <= m["accuracy"] <= 1.0
    assert models[0]["accuracy"] > 0.5  # the sample model does classify its digits


def test_two_models_keep_the_top_level_pair(client, made):
    r = _bench(client, model_ids=made["models"][:2])
    assert r["speedup"] == r["models"][1]["speedup"]
    assert r["output_difference"] == r["models"][1]["output_difference"]


def test_unlabelled_dataset_has_no_accuracy(client, made):
    r = _bench(client, model_ids=made["models"][:2], dataset_id=made["unlabelled"], batch=4)
    assert r["batch_size"] == 4 and r["accuracy_samples"] == 0
    assert all(m["accuracy"] is None for m in r["models"])
    assert "labels" in r["accuracy_note"]


def test_random_inputs_at_a_batch(client, made):
    r = _bench(client, model_ids=made["models"][:1], batch=3)
    assert r["batch_size"] == 3 and r["inputs"]["source"] == "random"
    assert r["models"][0]["accuracy"] is None and "random" in r["accuracy_note"]


def test_a_model_fixing_another_batch_is_refused(client, made):
    r = client.post("/v1/benchmarks", json={"model_ids": [made["models"][0], made["fixed"]], "batch": 8})
    assert r.status_code == 422, r.text
    message = r.json()["message"]
    assert made["fixed"] in message and "batch size of 1" in message and "batch size of 8" in message
    assert r.json()["details"][0]["field"] == "batch"
    ok = _bench(client, model_ids=[made["models"][0], made["fixed"]], batch=1)  # its own batch is fine
    assert ok["batch_size"] == 1


@pytest.mark.parametrize("body, field", [({"count": 7}, "model_ids"), ({"count": 2, "batch": 0}, "batch"),
                                         ({"count": 2, "batch": 4097}, "batch")])
def test_bounds(client, made, body, field):
    ids = [f"mdl_{i:032x}" for i in range(body.pop("count"))]  # the schema refuses before any lookup
    r = client.post("/v1/benchmarks", json={"model_ids": ids, **body})
    assert r.status_code == 422, r.text
    assert r.json()["details"][0]["field"] == field
