"""A model's variants on the web page, in a real browser (the fixtures of ``test_web``).

Three conversions of the wide sample model (two fixed methods and int8 alone under a budget, made
over the API to keep it short): its page lists them with their tags, gains, errors and verdicts,
each row links to its result, the chart marks their Pareto front, and "convert again with these
settings" opens the form filled in with that job's options (pressing Convert sends them again).
Then precision auto's fallbacks on its result, auto mode's candidates per layer on the small model,
and the tags in the models and jobs lists. Screenshots go where ``test_web``'s do.
"""

from __future__ import annotations

import re

import pytest
import test_web
from service_fixtures import upload, wait_job
from test_web import DATA, MODEL, REPO, SHOTS, check_auto_layers, shot

browser, server, tab = test_web.browser, test_web.server, test_web.tab  # the same fixtures, for this module

SMALL = REPO / "sample_models" / "digits_small.onnx"
SMALL_DATA = REPO / "sample_models" / "digits_small_test.npz"
RUNS = [  # (the request, the tag the page shows)
    ({"method": "depthwise", "ratio": 0.3}, "depthwise ratio 0.3"),
    ({"method": "spatial", "ratio": 0.5}, "spatial ratio 0.5"),
    # conv1 alone in int8 moves the outputs about twice this budget: precision auto keeps nodes float
    ({"method": "none", "precision": "auto", "max_error": 0.005, "max_samples": 128}, "int8 auto 0.5%"),
]


@pytest.fixture(scope="module")
def variants(server):
    """The wide model, its dataset and its three conversions (jobs as the API gives them, by tag)."""
    with server.client() as client:
        mid = upload(client, "/v1/models", MODEL.read_bytes(), MODEL.name).json()["id"]
        did = upload(client, "/v1/datasets", DATA.read_bytes(), DATA.name).json()["id"]
        ids = [client.post(f"/v1/models/{mid}/conversions", json={**body, "dataset_id": did}).json()["id"]
               for body, _ in RUNS]
        jobs = {tag: wait_job(client, i, timeout=120) for i, (_, tag) in zip(ids, RUNS, strict=True)}
        listed = client.get(f"/v1/models/{mid}/variants").json()["items"]
    assert all(j["state"] == "succeeded" for j in jobs.values()), jobs
    return {"model": mid, "dataset": did, "jobs": jobs, "listed": listed}


def _row(page, job_id: str):
    return page.locator(f"#variants tbody tr[data-job-id='{job_id}']")


def test_variants_table_chart_and_links(tab, server, variants):
    page = tab(server)
    page.goto(f"/#/models/{variants['model']}")
    rows = page.locator("#variants tbody tr")
    rows.first.wait_for()
    assert rows.count() == len(RUNS)
    for v in variants["listed"]:
        row = _row(page, v["job_id"])
        text = row.inner_text()
        assert v["tag"] in row.locator(".tag").inner_text()
        assert f"{v['macs_ratio']:.3f}×" in text
        assert row.locator(".verdict-badge").inner_text() == v["verdict"]["label"]
        if v["model_id"]:
            assert row.get_by_role("link", name=v["name"]).get_attribute("href") == f"#/models/{v['model_id']}"
        assert row.get_by_role("link", name="Result").get_attribute("href") == f"#/jobs/{v['job_id']}"
    int8 = variants["jobs"]["int8 auto 0.5%"]
    assert "auto →" in _row(page, int8["id"]).inner_text()  # precision asked, and what it came to

    chart = page.locator("#variants-chart")
    plotted = [v for v in variants["listed"] if v["model_id"] and v["error"] is not None]
    assert chart.get_attribute("data-axis") == "macs"  # the fixed methods measure no latency
    marks = chart.locator("svg [data-job-id]")
    assert marks.count() == len(plotted) and chart.locator("svg .front-point").count() >= 1
    legend = chart.locator(".legend").inner_text()
    for key in ("a variant", "on the Pareto front", "the front", "the original"):
        assert key in legend, legend
    best = min(plotted, key=lambda v: (v["macs_ratio"], v["error"]))  # the cheapest is always on the front
    assert chart.locator(f"svg .front-point[data-job-id='{best['job_id']}']").count() == 1
    shot(page, "20-variants", phone=True)
    page.get_by_label("Chart's horizontal axis").select_option("latency")
    assert chart.get_attribute("data-axis") == "latency"
    note = page.locator("#variants-chart .chart-note").inner_text()
    assert "no measured latency" in note

    depthwise = variants["jobs"]["depthwise ratio 0.3"]
    _row(page, depthwise["id"]).get_by_role("link", name="Result").click()
    page.wait_for_url(re.compile(f"#/jobs/{depthwise['id']}$"))
    page.locator("#verdict").wait_for()


def test_convert_again_fills_the_form(tab, server, variants):
    page = tab(server)
    page.goto(f"/#/models/{variants['model']}")
    int8 = variants["jobs"]["int8 auto 0.5%"]
    _row(page, int8["id"]).get_by_role("link", name="Convert again with these settings").click()
    page.wait_for_url(re.compile(r"\?again=job_"))
    form = page.locator("#convert-form")
    form.wait_for()
    assert int8["id"] in page.locator("#convert-preset").inner_text()
    assert form.get_by_label("Method").input_value() == "none"
    assert form.get_by_label("Precision").input_value() == "auto"
    assert form.get_by_label("Max output error (relative L2)").input_value() == "0.005"
    assert form.get_by_label("Dataset").input_value() == variants["dataset"]
    assert form.locator("input[name=max_samples]").input_value() == "128"
    shot(page, "21-convert-again")

    page.goto(f"/#/models/{variants['model']}")
    depthwise = variants["jobs"]["depthwise ratio 0.3"]
    _row(page, depthwise["id"]).get_by_role("link", name="Convert again with these settings").click()
    form.get_by_label("Method").wait_for()
    page.wait_for_function(f"document.querySelector('#convert-preset')?.textContent.includes('{depthwise['id']}')")
    assert form.get_by_label("Method").input_value() == "depthwise"
    assert form.get_by_label("Policy").input_value() == "ratio"
    assert form.get_by_label("Value").input_value() == "0.3"
    form.get_by_role("button", name="Convert").click()  # the same options go out again
    page.wait_for_url(re.compile(r"#/jobs/job_"))
    with server.client() as client:
        again = wait_job(client, page.url.rsplit("/", 1)[-1])
    assert again["params"]["options"] == depthwise["params"]["options"]
    assert again["params"]["dataset_id"] == variants["dataset"]
    assert again["result"]["model_id"] == depthwise["result"]["model_id"]  # the same bytes: the same model


def test_precision_fallbacks_on_the_result(tab, server, variants):
    int8 = variants["jobs"]["int8 auto 0.5%"]
    floats = int8["result"]["report"]["precision"].get("float_nodes") or []
    assert floats, int8["result"]["report"]["precision"]
    page = tab(server)
    page.goto(f"/#/jobs/{int8['id']}")
    table = page.locator("#precision-fallbacks tbody tr")
    table.first.wait_for()
    assert table.count() == len(floats)
    first = max(floats, key=lambda f: f["sensitivity"])  # most sensitive first
    assert table.first.locator("td").first.inner_text() == first["node"]
    assert float(table.first.locator("td").nth(1).inner_text()) == pytest.approx(first["sensitivity"], rel=1e-2)
    assert "kept float" in table.first.inner_text()
    page.locator("#precision-result").screenshot(path=str(SHOTS / "23-precision-fallbacks.png"))


def test_auto_candidates_per_layer(tab, server):
    """Auto mode on the small model (about 3 s): each layer it tried, with every candidate it measured."""
    with server.client() as client:
        mid = upload(client, "/v1/models", SMALL.read_bytes(), SMALL.name).json()["id"]
        did = upload(client, "/v1/datasets", SMALL_DATA.read_bytes(), SMALL_DATA.name).json()["id"]
        job = client.post(f"/v1/models/{mid}/conversions", json={"method": "auto", "max_error": 0.05,
                                                                 "max_samples": 128, "dataset_id": did}).json()
        done = wait_job(client, job["id"])
        assert done["state"] == "succeeded", done
        page = tab(server)
        page.goto(f"/#/jobs/{job['id']}")
        check_auto_layers(page, client)
    shot(page, "22-auto-layers")
    page.goto(f"/#/models/{mid}")
    row = _row(page, job["id"])
    row.wait_for()
    assert "auto 5%" in row.locator(".tag").inner_text()


def test_tags_in_the_lists(tab, server, variants):
    page = tab(server)
    page.goto("/")
    for v in variants["listed"]:
        if v["model_id"]:
            row = page.locator(f"#model-list tr[data-model-id='{v['model_id']}']")
            row.wait_for()
            assert row.locator(".tag").inner_text() == v["tag"] and v["name"] in row.inner_text()
    shot(page, "24-models-tags")
    page.goto("/#/jobs")
    for tag, job in variants["jobs"].items():
        row = page.locator("#job-list tbody tr", has=page.locator(f"a[href='#/jobs/{job['id']}']"))
        row.wait_for()
        assert tag in row.inner_text() and MODEL.name in row.inner_text()
    shot(page, "25-jobs-tags")
