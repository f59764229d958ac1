"""The API's documentation pages, offline: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc).

FastAPI's own pages load their scripts and styles from a CDN and are blank without internet; these load
the copies that the fastapi-offline package ships, served here under :data:`ASSETS`. The pages and
``/openapi.json`` need the API key when one is set (``SEPCONV_OPEN_DOCS`` opens them); the assets are
the package's own files and stay open. The pages' Content-Security-Policy keeps images
and requests on this server: ReDoc's sidebar asks a CDN for its maker's logo (refused, it hides itself),
and Swagger UI is told not to ask swagger.io's online validator for a badge.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .security import require_api_key_for_docs

#: where the pages' scripts, styles and icon are served (fastapi-offline's ``static`` folder)
ASSETS = "/docs-assets"
HEADERS = {"Content-Security-Policy": "img-src 'self' data:; font-src 'self' data:; connect-src 'self'",
           "Referrer-Policy": "no-referrer"}
SWAGGER_PARAMETERS = {"validatorUrl": None}
OPENAPI_URL = "/openapi.json"


def install(app: FastAPI) -> None:
    """Add the two pages, Swagger UI's OAuth2 redirect page and the assets to an app made with
    ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off)."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
    redirect = app.swagger_ui_oauth2_redirect_url
    keyed = [Depends(require_api_key_for_docs)]

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=keyed)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=keyed)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_URL}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect}", swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **SWAGGER_PARAMETERS})
        return HTMLResponse(page.body, headers=HEADERS)

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return HTMLResponse(get_swagger_ui_oauth2_redirect_html().body, headers=HEADERS)

    @app.get("/redoc", include_in_schema=False, dependencies=keyed)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{OPENAPI_URL}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js", redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False)
        return HTMLResponse(page.body, headers=HEADERS)
