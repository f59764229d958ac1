"""The web page at ``/``, in a real browser: Debian's chromium driven by Playwright against a real
``python -m sepconv.service``.

Upload the wide sample model and its data, find its five Convs, run auto mode and watch the progress
move, see the result and its chart, download the converted model and check it is the stored one,
submit an invalid form and see the field's message, compare two models; then all of it again with an
API key. No JavaScript error may reach the console. Screenshots of each page go to
``test-artifacts/screenshots/`` (or ``$SEPCONV_SCREENSHOTS``) for a person to look at.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from machine import missing, program, scaled
from service_fixtures import REPO, Server, conv_model, npz_bytes, upload, wait_job

try:
    from playwright import sync_api
except ImportError:
    missing("playwright is not installed (pip install -e '.[test]')")

SHOTS = Path(os.environ.get("SEPCONV_SCREENSHOTS") or REPO / "test-artifacts" / "screenshots")
MODEL = REPO / "sample_models" / "digits_wide.onnx"
DATA = REPO / "sample_models" / "digits_wide_test.npz"
KEY = "web-test-key-5b1f"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


class Console:
    """Console errors and uncaught exceptions of a page; ``allow`` names the network failures a step
    expects (a 422 for an invalid form shows in the console as 'Failed to load resource')."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        self.allowed: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def allow(self, pattern: str) -> None:
        self.allowed.append(pattern)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.allowed)]


def _server(tmp_path_factory, name: str, env: dict[str, str]) -> Server:
    base = tmp_path_factory.mktemp(name)
    return Server(base / "data", workers=2, env={"SEPCONV_CACHE_DIR": str(base / "cache"), **env}).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = _server(tmp_path_factory, "web", {})
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log.read_text(), srv.log.read_text()[-4000:]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    srv = _server(tmp_path_factory, "webkey", {"SEPCONV_API_KEY": KEY})
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log.read_text(), srv.log.read_text()[-4000:]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium (``SEPCONV_CHROMIUM`` names another), or the tests that need it are skipped."""
    chromium = os.environ.get("SEPCONV_CHROMIUM") or program("chromium", "chromium-browser",
                                                              install="apt-get install chromium")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def tab(browser):
    """tab(server): a fresh tab (its own sessionStorage) on that server, laptop-sized; at the end,
    no console error that its test did not expect."""
    opened = []

    def open_tab(srv: Server):
        ctx = browser.new_context(viewport=LAPTOP, accept_downloads=True, base_url=srv.url)
        pg = ctx.new_page()
        pg.set_default_timeout(scaled(30) * 1000)
        pg.console = Console(pg)
        opened.append((ctx, pg))
        return pg

    yield open_tab
    problems = [e for _, pg in opened for e in pg.console.unexpected()]
    for ctx, _ in opened:
        ctx.close()
    assert not problems, problems


def shot(page, name: str, phone: bool = False) -> None:
    """A full-page screenshot; with ``phone``, one at a phone's width too."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if phone:
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(100)
        page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(LAPTOP)


def upload_files(page) -> str:
    """Upload the dataset and the model with the file pickers of the home page; the model's id."""
    page.goto("/")
    page.get_by_role("heading", name="Models", exact=True).wait_for()
    shot(page, "01-home-empty")
    page.set_input_files("input[name=dataset-file]", str(DATA))
    page.locator("#dataset-list").get_by_text(DATA.name).wait_for()
    page.set_input_files("input[name=model-file]", str(MODEL))
    page.wait_for_url(re.compile(r"#/models/mdl_"))
    return page.url.rsplit("/", 1)[-1]


def check_model_page(page) -> None:
    page.get_by_role("heading", name=MODEL.name).wait_for()
    rows = page.locator("table:has(caption:text('Conv layers')) tbody tr")
    assert rows.count() == 5
    assert rows.nth(0).locator("td").nth(1).inner_text() == "/conv1/Conv"
    page.get_by_role("button", name="Multiplications").click()  # sorts, the largest first
    assert rows.nth(0).locator("td").nth(1).inner_text() == "/conv4/Conv"
    assert page.locator("figure.chart svg.bars rect.bar").count() == 5
    kernel = page.get_by_role("button", name="Kernel")
    kernel.focus()
    page.keyboard.press("Enter")  # the keyboard sorts too
    assert kernel.locator("xpath=..").get_attribute("aria-sort") == "ascending"
    assert rows.nth(4).locator("td").nth(1).inner_text() == "/conv4/Conv"  # the only 5x5


def watch_progress(page, name: str, timeout: float = 90) -> list[float]:
    """The fractions the job page's progress bar showed, until the job finished (a screenshot
    ``name`` of the page the first time the bar is part way)."""
    bar = page.locator("#job-progress")
    bar.wait_for()
    seen: list[float] = []
    timeout = scaled(timeout)
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        state = page.locator("#job-state").inner_text()  # first: a bar read after a final state is final too
        value = float(bar.get_attribute("data-fraction") or 0)
        if not seen or seen[-1] != value:
            if 0 < value < 1 and not any(0 < f < 1 for f in seen):
                shot(page, name)
            seen.append(value)
        if state in ("succeeded", "failed"):
            assert state == "succeeded", page.locator("#job-result").inner_text()
            return seen
        time.sleep(0.05)
    raise AssertionError(f"the job did not finish in {timeout:.0f} s (progress seen: {seen})")


def download_converted(page, client: httpx.Client, tmp_path: Path) -> None:
    """Download the converted model with the page's button; the bytes are the stored model's."""
    job_id = page.url.rsplit("/", 1)[-1]
    model_id = client.get(f"/v1/jobs/{job_id}").json()["result"]["model_id"]
    with page.expect_download() as info:
        page.click("#download-converted")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    stored = client.get(f"/v1/models/{model_id}").json()
    assert info.value.suggested_filename == stored["name"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == stored["sha256"]
    with page.expect_download() as report:
        page.click("#download-report")
    assert report.value.suggested_filename.endswith(".report.json")


def drop_file(page, input_name: str, name: str, data: bytes) -> None:
    """Drop a file on the drop zone around the file input ``input_name``, as a drag from the desktop does."""
    transfer = page.evaluate_handle("""([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name));
        return dt;
    }""", [name, base64.b64encode(data).decode()])
    page.dispatch_event(f".dropzone:has(input[name={input_name}])", "drop", {"dataTransfer": transfer})


def convert_with_form(page, fill: dict[str, str], method: str = "auto") -> None:
    form = page.locator("#convert-form")
    form.get_by_label("Method").select_option(method)
    for label, value in fill.items():
        form.get_by_label(label).fill(value)
    assert form.get_by_label("Dataset").input_value().startswith("ds_")
    shot(page, f"03-convert-form-{method}")
    form.get_by_role("button", name="Convert").click()
    page.wait_for_url(re.compile(r"#/jobs/job_"))


def check_auto_layers(page, client: httpx.Client) -> None:
    """Auto mode per layer on the result page on screen: each layer's measured candidates, the chosen
    one marked (one row where the layer was rewritten, none where it was kept), and why in words."""
    report = client.get(f"/v1/jobs/{page.url.rsplit('/', 1)[-1]}").json()["result"]["report"]
    reasons = {r["name"]: r.get("reason") for r in report["layers"]}
    section = page.locator("#auto-layers")
    section.wait_for()
    section.get_by_role("button", name="Open all").click()
    boxes = section.locator("details.auto-layer")
    assert boxes.count() == len(report["auto"]["layers"]) > 0
    for i, layer in enumerate(report["auto"]["layers"]):
        box = boxes.nth(i)
        assert box.get_attribute("data-layer") == layer["name"] and box.get_attribute("open") is not None
        assert box.locator("tbody tr").count() == len(layer["candidates"])
        assert box.locator(".scroll table.candidates").count() == 1  # scrolls inside its card
        chosen, why = box.locator("tr.chosen-row"), box.locator(".why").inner_text()
        if layer["decision"] == "keep":
            assert chosen.count() == 0 and why.startswith("kept"), why
            assert why == (reasons[layer["name"]] or why)  # the report row's own reason, where it has one
        else:
            assert chosen.count() == 1 and chosen.get_attribute("data-candidate") == layer["decision"]
            assert why.startswith("chosen: most time saved within the budget"), why
            assert "chosen" in chosen.inner_text()
    untried = [r["name"] for r in report["layers"] if r["name"] not in {x["name"] for x in report["auto"]["layers"]}]
    if untried:
        assert all(name in page.locator("#auto-untried").inner_text() for name in untried)


def check_invalid_form(page, client: httpx.Client, name: str) -> None:
    """An invalid budget: the API's message beside its field, and nothing queued."""
    jobs_before = len(client.get("/v1/jobs").json()["items"])
    page.console.allow(r"status of 422")
    form = page.locator("#convert-form")
    form.get_by_label("Method").select_option("auto")
    field = form.get_by_label("Max output error (relative L2)")
    field.fill("0")
    form.get_by_role("button", name="Convert").click()
    message = form.locator("[data-error-for=max_error]")
    message.wait_for()
    assert message.inner_text() == "Max output error must be above 0"  # the page's words for the API's
    assert field.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.dataset.field") == "max_error"
    shot(page, name, phone=True)
    field.fill("")
    form.get_by_label("Shape of input 'input'").fill("1, 2, 32, 32")  # the model takes 1 channel
    form.get_by_role("button", name="Convert").click()
    shape_message = form.locator("[data-error-for='input_shapes:input']")
    shape_message.wait_for()
    assert "does not fit the model: dim 1 is fixed to 1" in shape_message.inner_text()
    assert message.is_hidden()
    assert "#/models/" in page.url
    assert len(client.get("/v1/jobs").json()["items"]) == jobs_before


def test_upload_inspect_convert_auto_download(tab, server, tmp_path):
    page = tab(server)
    model_id = upload_files(page)
    check_model_page(page)
    shot(page, "02-model", phone=True)
    with server.client() as client:
        check_invalid_form(page, client, "03-invalid-form")
        page.reload()
        convert_with_form(page, {"Max accuracy drop (percentage points)": "0.5"})
        seen = watch_progress(page, "04-job-running")
        assert seen[-1] == 1.0 and any(0 < f < 1 for f in seen), seen

        page.locator("#auto-result svg.tradeoff .chosen").wait_for()
        assert page.locator("#auto-result svg.tradeoff circle").count() > 3
        assert "→" in page.locator("#result-totals").inner_text()
        assert "Accuracy after" in page.locator("#verification").inner_text()
        assert "faster" in page.locator("#auto-result").inner_text()
        # auto rows show each layer's output error on the data, not the weight error of a refit pair
        assert "Output error" in page.locator("body").inner_text() and "Weight error" not in \
            page.locator("body").inner_text()
        shot(page, "05-result", phone=True)
        download_converted(page, client, tmp_path)
        check_auto_layers(page, client)
        page.locator("#auto-layers").screenshot(path=str(SHOTS / "05-auto-layers.png"))
        assert client.get(f"/v1/models/{model_id}").status_code == 200


def test_compare_and_jobs(tab, server):
    with server.client() as client:
        original = upload(client, "/v1/models", MODEL.read_bytes(), MODEL.name).json()["id"]
        job = client.post(f"/v1/models/{original}/conversions", json={"method": "depthwise", "ratio": 0.3}).json()
        converted = wait_job(client, job["id"])["result"]["model_id"]
    page = tab(server)
    page.goto(f"/#/compare?a={original}&b={converted}")
    form = page.locator("#compare-form")
    assert form.get_by_label("Model 2").input_value() == converted
    form.get_by_label("Runs").fill("20")
    form.get_by_role("button", name="Run benchmark").click()
    page.wait_for_url(re.compile(r"#/jobs/job_"))
    result = page.locator("#bench-result")
    result.wait_for()
    assert "Speedup (1 / 2)" in result.inner_text()
    assert result.locator("svg.latency line.median").count() == 2
    for i in range(2):  # each model's 20 runs: a histogram holding every run, and a tick per run under it
        bins = result.locator(f"svg.latency rect.bin.m{i}")
        assert bins.count() >= 1
        assert sum(int(n) for n in bins.evaluate_all("els => els.map((e) => e.dataset.runs)")) == 20
        assert result.locator(f"svg.latency g.rug.m{i} line.run").count() == 20
    assert "20 runs" in result.locator("svg.latency desc").text_content()
    shot(page, "06-compare", phone=True)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    rows = page.locator("#job-list tbody tr")
    rows.first.wait_for()
    assert rows.count() >= 2 and "succeeded" in rows.first.inner_text()
    shot(page, "07-jobs")
    rows.first.get_by_role("link").first.click()
    page.locator("#bench-result").wait_for()

    with server.client() as client:  # long enough to be cancelled from its page (about 10 ms a run, 10,000 runs)
        heavy = upload(client, "/v1/models", conv_model(cin=32, cout=64, hw=256, seed=7), "heavy.onnx").json()["id"]
        slow = client.post("/v1/benchmarks", json={"model_ids": [heavy], "runs": 10_000}).json()
    page.goto(f"/#/jobs/{slow['id']}")
    page.get_by_role("button", name="Cancel job").click()
    page.get_by_role("heading", name="Cancelled").wait_for()
    assert page.locator("#job-state").inner_text() == "failed"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.locator("#model-list tbody tr").first.wait_for()
    shot(page, "08-home", phone=True)
    x = np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32)
    drop_file(page, "dataset-file", "dropped.npz", npz_bytes(input=x))
    row = page.locator("#dataset-list tr", has_text="dropped.npz")
    row.wait_for()
    row.get_by_role("button", name="Delete dropped.npz").click()
    row.get_by_role("button", name="Delete dropped.npz").click()  # the second press confirms
    row.wait_for(state="detached")
    with server.client() as client:
        assert "dropped.npz" not in [d["name"] for d in client.get("/v1/datasets").json()["items"]]

    page.goto("/#/models/no_such_model")
    page.console.allow(r"status of 404")
    page.get_by_role("heading", name="Something went wrong").wait_for()
    assert "no_such_model" in page.locator("main").inner_text()


def check_static_files(srv: Server) -> None:
    """The page's files are open (they hold no data), typed, under a strict CSP; nothing else is served."""
    with httpx.Client(base_url=srv.url) as client:
        index = client.get("/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in index.headers["content-security-policy"]
        assert "https://" not in index.text and "http://" not in index.text
        assert client.get("/web/js/main.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/web/config").json() == {"api_key_required": True}
        for path in ("/web/../routes/web.py", "/web/%2e%2e/app.py", "/web/nothing.js", "/web/"):
            r = client.get(path)
            assert r.status_code == 404 and r.json()["error"] == "not_found", path


def test_with_an_api_key(tab, keyed_server, tmp_path):
    page = tab(keyed_server)
    requests: list = []
    page.on("request", lambda r: requests.append(r))
    page.goto("/")
    key_field = page.get_by_label("Key", exact=True)
    key_field.wait_for()
    assert "digits" not in page.content()
    assert httpx.get(keyed_server.url + "/v1/models").status_code == 401
    check_static_files(keyed_server)
    shot(page, "09-api-key")
    page.console.allow(r"status of 401")
    key_field.fill("not-the-key")
    key_field.press("Enter")
    page.get_by_text("wrong API key").wait_for()
    key_field.fill(KEY)
    key_field.press("Enter")
    page.get_by_role("heading", name="Models", exact=True).wait_for()
    assert page.evaluate("sessionStorage.getItem('sepconv.apiKey')") == KEY

    page.set_input_files("input[name=dataset-file]", str(DATA))
    page.locator("#dataset-list").get_by_text(DATA.name).wait_for()
    page.set_input_files("input[name=model-file]", str(MODEL))
    page.wait_for_url(re.compile(r"#/models/mdl_"))
    check_model_page(page)
    with keyed_server.client(headers={"X-API-Key": KEY}) as client:
        check_invalid_form(page, client, "10-invalid-form-key")
        page.reload()  # the key survives a reload of the tab
        convert_with_form(page, {}, method="depthwise")
        watch_progress(page, "11-job-running-key")
        page.locator("#result-totals").wait_for()
        download_converted(page, client, tmp_path)
    assert not [r.url for r in requests if KEY in r.url]
    api_calls = [r for r in requests if "/v1/" in r.url]
    assert api_calls and all(r.headers.get("x-api-key") for r in api_calls)

    other = tab(keyed_server)  # a new tab has no key: it asks, and shows nothing
    other.goto("/#/models")
    other.get_by_label("Key", exact=True).wait_for()
    assert "digits" not in other.content()
    other.get_by_label("Key", exact=True).fill(KEY)
    other.get_by_label("Key", exact=True).press("Enter")
    other.locator("#model-list").get_by_text(MODEL.name, exact=True).wait_for()


def test_int8_from_the_form(tab, server):
    """Precision on the form: int8 alone (method none) on the uploaded digits; the result shows the
    precision chosen, the multiplications in int8 and each layer's precision."""
    page = tab(server)
    upload_files(page)
    page.get_by_role("heading", name=MODEL.name).wait_for()
    form = page.locator("#convert-form")
    form.get_by_label("Precision").select_option("int8")
    convert_with_form(page, {}, method="none")
    watch_progress(page, "06-job-int8")
    result = page.locator("#precision-result")
    result.wait_for()
    text = result.inner_text()
    assert "int8" in text and "Multiplications in int8" in text and "Calibration" in text
    table = page.locator("table:has(caption:text('Per-layer decisions'))")
    assert "Precision" in table.locator("thead").inner_text()
    assert table.locator("tbody tr").count() == 5
    column = table.locator("thead th").all_inner_texts().index("Precision") + 1  # Energy kept shows only where kept
    assert all(cell == "int8" for cell in table.locator(f"tbody tr td:nth-child({column})").all_inner_texts())
    shot(page, "07-result-int8", phone=True)


def test_int8_result_names_the_ops_it_hands_back_to_float(tab, server):
    """A PRelu between two convs has no int8 kernel in ONNX Runtime: the result says it runs float."""
    from test_precision import two_convs

    with server.client() as client:
        model = two_convs(outlier=False, prelu=True).SerializeToString()
        mid = upload(client, "/v1/models", model, "prelu.onnx").json()["id"]
        job = wait_job(client, client.post(f"/v1/models/{mid}/conversions",
                                           json={"method": "none", "precision": "int8"}).json()["id"])
    assert job["state"] == "succeeded", job
    page = tab(server)
    page.goto(f"/#/jobs/{job['id']}")
    islands = page.locator("#precision-islands")
    islands.wait_for()
    assert "no int8 kernel" in islands.inner_text() and "1 PRelu" in islands.inner_text()


SMALL = REPO / "sample_models" / "digits_small.onnx"
SMALL_DATA = REPO / "sample_models" / "digits_small_test.npz"
BAD = "rgb(180, 35, 24)"  # --bad in app.css


def _small(client: httpx.Client) -> tuple[str, str]:
    mid = upload(client, "/v1/models", SMALL.read_bytes(), SMALL.name).json()["id"]
    did = upload(client, "/v1/datasets", SMALL_DATA.read_bytes(), SMALL_DATA.name).json()["id"]
    return mid, did


def test_broken_result_says_so_and_compares_on_its_data(tab, server):
    """The issue's case: a default depthwise conversion of the small digits keeps about a quarter of
    the top-1 answers. The page says Broken at the top, the download is not the main button, the
    job is described by names, and Benchmark both runs on the conversion's own dataset."""
    with server.client() as client:
        mid, did = _small(client)
        upload(client, "/v1/datasets", DATA.read_bytes(), DATA.name)  # stored too, but for the wide model
    page = tab(server)
    page.goto(f"/#/models/{mid}")
    form = page.locator("#convert-form")
    form.wait_for()
    dataset = form.get_by_label("Dataset")
    assert dataset.input_value() == did  # the one stored dataset that fits the model's input
    assert "does not fit" in dataset.locator(f"option:has-text('{DATA.name}')").inner_text()
    form.get_by_label("Method").select_option("depthwise")
    form.get_by_role("button", name="Convert").click()
    page.wait_for_url(re.compile(r"#/jobs/job_"))
    assert page.locator("#job-subject").inner_text() == \
        f"Converting {SMALL.name} with method depthwise on dataset {SMALL_DATA.name}."
    watch_progress(page, "12-job-broken-running")
    verdict = page.locator("#verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-level") == "broken"
    assert verdict.locator(".verdict-badge").inner_text() == "Broken"
    assert "top-1 agreement" in verdict.inner_text() and "no longer computes" in verdict.inner_text()
    assert verdict.evaluate("el => el.compareDocumentPosition(document.querySelector('#result-totals'))") & 4
    dl = page.locator("#download-converted")
    assert "primary" not in (dl.get_attribute("class") or "") and "not recommended" in dl.inner_text()
    assert page.locator(".result .primary").count() == 0
    shot(page, "12-result-broken", phone=True)

    page.get_by_role("link", name="Benchmark both").click()
    compare = page.locator("#compare-form")
    compare.wait_for()
    assert compare.get_by_label("Inputs").input_value() == did
    assert "Preselected" in compare.inner_text()
    compare.get_by_label("Runs").fill("10")
    compare.get_by_role("button", name="Run benchmark").click()
    page.wait_for_url(re.compile(r"#/jobs/job_"))
    inputs = page.locator("#bench-inputs")
    inputs.wait_for()
    assert f"dataset {SMALL_DATA.name}" in inputs.inner_text() and "batch of" in inputs.inner_text()
    assert f"on dataset {SMALL_DATA.name}" in page.locator("#job-subject").inner_text()
    shot(page, "13-compare-on-data")

    page.goto("/#/jobs")
    row = page.locator("#job-list tbody tr", has=page.locator(".verdict-badge.broken"))
    row.first.wait_for()
    assert SMALL.name in row.first.inner_text() and "mdl_" not in row.first.inner_text()


def test_unchanged_and_unchecked_results(tab, server):
    """Nothing rewritten: no model stored, nothing to download or benchmark, and why. Verification
    off: Unchecked, in words, and its download is not the main button."""
    with server.client() as client:
        mid, did = _small(client)
        same = wait_job(client, client.post(f"/v1/models/{mid}/conversions",
                                            json={"method": "depthwise", "rank": 9999, "dataset_id": did}).json()["id"])
        blind = wait_job(client, client.post(f"/v1/models/{mid}/conversions",
                                             json={"method": "depthwise", "verify": False}).json()["id"])
    assert same["result"]["model_id"] is None and blind["state"] == "succeeded"
    page = tab(server)
    page.goto(f"/#/jobs/{same['id']}")
    verdict = page.locator("#verdict")
    verdict.wait_for()
    assert verdict.get_attribute("data-level") == "unchanged"
    assert "0 of 2 Convs rewritten" in verdict.inner_text() and "no new model was stored" in verdict.inner_text()
    assert page.locator("#no-model").is_visible()
    assert page.locator("#download-converted").count() == 0
    assert page.get_by_role("link", name="Benchmark both").count() == 0
    page.locator("#download-report").wait_for()
    shot(page, "14-result-unchanged")
    page.goto(f"/#/jobs/{blind['id']}")
    verdict.wait_for()
    assert verdict.get_attribute("data-level") == "unchecked" and "verification was off" in verdict.inner_text()
    assert "primary" not in (page.locator("#download-converted").get_attribute("class") or "")
    shot(page, "15-result-unchecked")


def test_failures_read_as_failures(tab, server):
    """A bad upload's message is red, names the file once and holds no protobuf text; a failed
    job reads 'failed' with its reason, and the jobs list shows a short error."""
    page = tab(server)
    page.goto("/")
    page.console.allow(r"status of 415")
    drop_file(page, "model-file", "junk.onnx", b"\x08\x07this is not an onnx model" * 20)
    status = page.locator(".dropzone:has(input[name=model-file]) .upload-status.error-text")
    status.wait_for()
    text = status.inner_text()
    assert text.count("junk.onnx") == 1 and "not a valid ONNX model" in text, text
    assert "ModelProto" not in text and "parsing" not in text, text
    assert status.evaluate("el => getComputedStyle(el).color") == BAD
    shot(page, "16-upload-error")

    with server.client() as client:  # shapes that fit the symbolic dims but not the weights: the job fails
        sym = upload(client, "/v1/models", conv_model(seed=2, shape=["N", "C", 16, 16]), "sym.onnx").json()["id"]
        job = client.post(f"/v1/models/{sym}/conversions", json={"input_shapes": {"input": [1, 3, 16, 16]}}).json()
        failed = wait_job(client, job["id"])
    assert failed["state"] == "failed"
    page.goto(f"/#/jobs/{job['id']}")
    page.get_by_role("heading", name="Failed").wait_for()
    stage = page.locator("#job-stage")
    assert stage.inner_text().startswith("failed: ") and "Stage" not in stage.inner_text()
    assert "\n" not in stage.inner_text() and page.locator(".progress-card .pct").inner_text() == ""
    shot(page, "17-job-failed")
    page.goto("/#/jobs")
    cell = page.locator("#job-list tbody tr", has=page.locator(f"a[href='#/jobs/{job['id']}']")).locator(".job-error")
    cell.wait_for()
    assert len(cell.inner_text()) <= 70 and cell.get_attribute("title") == failed["error"]["message"]


def test_tables_scroll_inside_their_box(tab, server):
    """At 1280 px the layer table is wider than its box: it scrolls inside it, with a hint, and the
    page itself does not scroll sideways; on a phone the jobs list's State column is on screen."""
    with server.client() as client:
        mid = upload(client, "/v1/models", MODEL.read_bytes(), MODEL.name).json()["id"]
        wait_job(client, client.post("/v1/benchmarks", json={"model_ids": [mid], "runs": 3}).json()["id"])
    page = tab(server)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/#/models/{mid}")
    box = page.locator(".scroll[aria-label='Conv layers']")
    box.wait_for()
    page.wait_for_function("document.querySelector(\".scroll[aria-label='Conv layers']\").dataset.overflow")
    wide = box.evaluate("el => [el.scrollWidth, el.clientWidth, el.getBoundingClientRect().right]")
    assert wide[0] > wide[1], wide
    assert box.locator("xpath=..").locator(".scroll-hint").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "18-layers-1280")
    page.set_viewport_size(PHONE)
    page.goto("/#/jobs")
    head = page.locator("#job-list thead th", has_text="State")
    head.wait_for()
    right = head.evaluate("el => el.getBoundingClientRect().right")
    assert right <= PHONE["width"], right
    assert page.locator("#job-list tbody tr .badge").first.is_visible()
    shot(page, "19-jobs-phone")
