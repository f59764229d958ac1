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
    assert "max_error" in message.inner_text() and "0" in message.inner_text()
    assert field.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.dataset.field") == "max_error"
    shot(page, name, phone=True)
    field.fill("")
    form.get_by_label("Shape of input 'input'").fill("1, 2, 32, 32")  # the model takes 1 channel
    form.get_by_role("button", name="Convert").click()
    shape_message = form.locator("[data-error-for='input_shapes:input']")
    shape_message.wait_for()
    assert "input_shapes" in shape_message.inner_text()
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
        assert client.get(f"/v1/models/{model_id}").status_code == 200


def test_compare_and_jobs(tab, server):
    with server.client() as client:
        original = upload(client, "/v1/models", MODEL.read_bytes(), MODEL.name).json()["id"]
        job = client.post(f"/v1/models/{original}/conversions", json={"method": "depthwise", "ratio": 0.3}).json()
        converted = wait_job(client, job["id"])["result"]["model_id"]
    page = tab(server)
    page.goto(f"/#/compare?a={original}&b={converted}")
    form = page.locator("#compare-form")
    assert form.get_by_label("Model B (usually the converted one)").input_value() == converted
    form.get_by_label("Runs").fill("20")
    form.get_by_role("button", name="Run benchmark").click()
    page.wait_for_url(re.compile(r"#/jobs/job_"))
    result = page.locator("#bench-result")
    result.wait_for()
    assert "Speedup (A / B)" in result.inner_text()
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
    assert all(cell == "int8" for cell in table.locator("tbody tr td:nth-child(8)").all_inner_texts())
    shot(page, "07-result-int8", phone=True)
