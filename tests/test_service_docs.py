"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, work offline: every script, style
and icon they reference is served by the service itself, over real HTTP from ``python -m sepconv.service``;
and in Debian's chromium, with every request to another host refused, both pages draw the API."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from service_fixtures import Server

KEY = "docs-test-key-91c4"


class Refs(HTMLParser):
    """The URLs a page loads: ``src`` and ``href`` attributes, ``spec-url`` (ReDoc) and ``url:`` in scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]
        self._script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._script = False

    def handle_data(self, data: str) -> None:
        if self._script:
            self.urls += re.findall(r"""\burl:\s*['"]([^'"]+)['"]""", data)


def page_refs(html: str) -> list[str]:
    parser = Refs()
    parser.feed(html)
    return parser.urls


def test_refs_of_a_page():
    html = ('<link rel="stylesheet" href="/a.css"><script src="https://cdn.example/x.js"></script>'
            '<redoc spec-url="/openapi.json"></redoc><script>SwaggerUIBundle({url: \'/spec.json\', x: 1})</script>'
            '<p>url: "/not-a-script.json"</p>')
    assert page_refs(html) == ["/a.css", "https://cdn.example/x.js", "/openapi.json", "/spec.json"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("docs") / "data", workers=1, env={"SEPCONV_API_KEY": KEY}).start()
    yield srv
    srv.stop()
    assert "Traceback" not in srv.log.read_text(), srv.log.read_text()[-4000:]


@pytest.mark.parametrize(("page", "kinds"), [
    ("/docs", {"javascript", "css", "image", "json"}),
    ("/redoc", {"javascript", "image", "json"}),
])
def test_doc_page_assets_are_served_locally(server, page, kinds):
    """Behind the API key (the assets are open); each reference is on this server and answers 200."""
    with httpx.Client(base_url=server.url, timeout=30, headers={"X-API-Key": KEY}) as c:
        r = c.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:300]
        refs = page_refs(r.text)
        seen = set()
        for ref in refs:
            url = urljoin(f"{server.url}{page}", ref)
            assert urlsplit(url).netloc == urlsplit(server.url).netloc, f"{page} loads {ref} from another host"
            asset = c.get(url)
            assert asset.status_code == 200 and asset.content, (ref, asset.status_code)
            seen |= {k for k in kinds if k in asset.headers["content-type"]}
        assert seen == kinds, (refs, seen)
        missing = c.get("/docs-assets/nope.js")
        assert missing.status_code == 404 and missing.json()["status"] == 404, missing.text


try:
    from playwright import sync_api
except ImportError:  # the 'test' extra brings it
    sync_api = None
CHROMIUM = os.environ.get("SEPCONV_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.skipif(not (sync_api and CHROMIUM), reason="the browser test needs Playwright and Debian's chromium")
def test_doc_pages_draw_the_api_offline(server):
    """Requests to any other host are refused (as on a machine without internet): Swagger UI still lists
    the upload route and ReDoc its heading, with no console error and no request that left the server."""
    origin = server.url
    foreign: list[str] = []
    errors: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            ctx = browser.new_context(base_url=origin, extra_http_headers={"X-API-Key": KEY})
            ctx.route("**/*", only_local)
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
            page.goto("/docs")
            page.locator(".opblock-summary-path", has_text="/v1/models").first.wait_for()
            assert page.locator(".opblock").count() >= 10
            page.goto("/redoc")
            page.locator("h1", has_text="sepconv").first.wait_for()
            page.get_by_text("/v1/models", exact=False).first.wait_for(state="attached")
        finally:
            browser.close()
    assert not foreign, foreign
    # the one thing the bundles ask another host for: ReDoc's logo, refused by the page's CSP before any request
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert all(logo in e and "Content Security Policy" in e for e in errors), errors


def test_docs_need_the_key(server, tmp_path):
    """With an API key set, the pages and the OpenAPI document need it; SEPCONV_OPEN_DOCS opens them."""
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for path in ("/docs", "/redoc", "/openapi.json"):
            r = c.get(path)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (path, r.text[:200])
        assert "/v1/models" in c.get("/openapi.json", headers={"X-API-Key": KEY}).json()["paths"]
        assert c.get("/docs-assets/swagger-ui.css").status_code == 200
    srv = Server(tmp_path / "data", workers=1, env={"SEPCONV_API_KEY": KEY, "SEPCONV_OPEN_DOCS": "1"}).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as c:
            assert [c.get(p).status_code for p in ("/docs", "/redoc", "/openapi.json")] == [200, 200, 200]
            assert c.get("/v1/models").status_code == 401
    finally:
        srv.stop()
