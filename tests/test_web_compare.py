"""Comparing models on the web page, in a real browser (the fixtures of ``test_web``).

From a conversion's result, "Benchmark both" opens the compare form with the conversion's dataset
and the batch its verification ran at filled in; a third model is added, the benchmark runs, and
its result shows one row per model (speedup, output difference and accuracy against the first) and
a line naming the dataset and the batch. Screenshots go where ``test_web``'s do.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
import test_web
from onnx import numpy_helper
from service_fixtures import upload, wait_job
from test_web import REPO, shot

browser, server, tab = test_web.browser, test_web.server, test_web.tab  # the same fixtures, for this module

SMALL = REPO / "sample_models" / "digits_small.onnx"
SMALL_DATA = REPO / "sample_models" / "digits_small_test.npz"


def _nudged(fixed: int | None = None) -> bytes:
    """The sample model with its weights moved by about 1%: a third model whose outputs differ a little
    (``fixed``: with its batch dim fixed to that size)."""
    model = onnx.load(SMALL)
    if fixed is not None:
        for v in [*model.graph.input, *model.graph.output]:
            v.type.tensor_type.shape.dim[0].dim_value = fixed
    rng = np.random.default_rng(7)
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and a.size > 1:
            t.CopyFrom(numpy_helper.from_array((a * (1 + 0.01 * rng.standard_normal(a.shape))).astype(np.float32),
                                               t.name))
    return model.SerializeToString()


@pytest.fixture(scope="module")
def made(server):
    with server.client() as client:
        mid = upload(client, "/v1/models", SMALL.read_bytes(), SMALL.name).json()["id"]
        did = upload(client, "/v1/datasets", SMALL_DATA.read_bytes(), SMALL_DATA.name).json()["id"]
        third = upload(client, "/v1/models", _nudged(), "digits_nudged.onnx").json()["id"]
        fixed = upload(client, "/v1/models", _nudged(fixed=1), "digits_batch1.onnx").json()["id"]
        job = client.post(f"/v1/models/{mid}/conversions", json={"method": "depthwise", "ratio": 0.5,
                                                                 "dataset_id": did}).json()
        job = wait_job(client, job["id"], timeout=120)
    assert job["state"] == "succeeded" and job["result"]["model_id"], job
    return {"model": mid, "dataset": did, "third": third, "fixed": fixed, "job": job}


def test_benchmark_both_on_the_conversions_dataset_and_batch_with_a_third_model(tab, server, made):
    batch = made["job"]["result"]["report"]["verification"]["batch_size"]
    page = tab(server)
    page.goto(f"/#/jobs/{made['job']['id']}")
    page.get_by_role("link", name="Benchmark both").click()
    form = page.locator("#compare-form")
    form.wait_for()
    assert form.get_by_label("Inputs").input_value() == made["dataset"]
    assert form.get_by_label("Batch size").input_value() == str(batch)
    assert f"The conversion's result measured at batch {batch}." in form.inner_text()
    assert form.get_by_label("Model 1 (the reference, usually the original)").input_value() == made["model"]
    assert form.get_by_label("Model 2").input_value() == made["job"]["result"]["model_id"]
    form.get_by_role("button", name="Add a model").click()
    form.get_by_label("Model 3").select_option(made["third"])
    form.get_by_label("Runs").fill("10")
    shot(page, "30-compare-three")
    form.get_by_role("button", name="Run benchmark").click()
    page.wait_for_url(re.compile(r"#/jobs/job_"))
    subject = page.locator("#job-subject").inner_text()
    assert subject.startswith("Benchmarking ") and f" against {SMALL.name} on dataset" in subject, subject
    result = page.locator("#bench-result")
    result.wait_for()
    table = result.get_by_role("table", name=re.compile("Models compared"))
    width = table.evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
    assert width[0] <= width[1], f"the table ({width[0]} px) is wider than its card ({width[1]} px) on a laptop"
    rows = table.locator("tbody tr")
    assert rows.count() == 3
    assert "reference" in rows.nth(0).inner_text()
    assert "Top-1 accuracy" in table.locator("thead").inner_text()
    for i in (1, 2):
        assert "×" in rows.nth(i).inner_text() and "%" in rows.nth(i).inner_text()
    line = page.locator("#bench-line").inner_text()
    assert f"On dataset {SMALL_DATA.name}, batch {batch}, 10 runs each" in line, line
    assert "labelled samples" in line
    assert result.locator("svg.latency line.median").count() == 3
    shot(page, "31-compare-three-result", phone=True)


def test_the_form_takes_at_most_six_models(tab, server, made):
    page = tab(server)
    page.goto(f"/#/compare?models={made['model']},{made['third']}&batch=4")
    form = page.locator("#compare-form")
    form.wait_for()
    assert form.get_by_label("Model 2").input_value() == made["third"]
    add = form.get_by_role("button", name="Add a model")
    for _ in range(4):
        add.click()
    assert form.locator("select[name^=model_]").count() == 6 and add.is_disabled()


def test_a_model_fixing_another_batch_is_named_beside_the_batch_field(tab, server, made):
    page = tab(server)
    page.console.allow("status of 422")  # the refusal this test asks for
    page.goto(f"/#/compare?a={made['model']}&b={made['fixed']}&batch=4")
    form = page.locator("#compare-form")
    form.wait_for()
    form.get_by_role("button", name="Run benchmark").click()
    error = form.locator("[data-error-for=batch]")
    error.wait_for()
    assert made["fixed"] in error.inner_text() and "1" in error.inner_text() and "4" in error.inner_text()
    assert form.get_by_label("Batch size").get_attribute("aria-invalid") == "true"
    assert "#/compare" in page.url  # nothing was queued
