"""The web page at ``/``: plain HTML, CSS and JavaScript from the package, calling the ``/v1`` API.

Open without the API key, like the health checks: the files hold no data, and every call the page
makes goes through the same ``/v1`` routes (with the key, when the server has one). Only files that
ship in ``static/`` are served, by name; nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse

from ...errors import ApiError
from ...wiring import Services
from . import services

STATIC = Path(__file__).resolve().parent.parent / "static"

#: what the page's files are served as (anything else in static/ is not served)
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8"}

#: the page loads only its own files and talks only to this server
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                               "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["web page"], include_in_schema=False)


def _files() -> dict[str, Path]:
    """The servable files, by their path under static/ (read once: the package does not change)."""
    return {p.relative_to(STATIC).as_posix(): p for p in sorted(STATIC.rglob("*"))
            if p.is_file() and p.suffix in TYPES}


FILES = _files()


def _serve(rel: str) -> FileResponse:
    path = FILES.get(rel)
    if path is None:
        raise ApiError(404, "not_found", f"no file {rel!r} in the web page")
    return FileResponse(path, media_type=TYPES[path.suffix], headers=HEADERS)


@router.get("/")
def index() -> FileResponse:
    """The page itself; it routes by the URL's #fragment, so every view is this one file."""
    return _serve("index.html")


@router.get("/web/config")
def config(svc: Services = Depends(services)) -> JSONResponse:
    """What the page needs before its first API call: whether to ask for the API key (never the key)."""
    return JSONResponse({"api_key_required": bool(svc.settings.api_key)}, headers=HEADERS)


@router.get("/web/{name:path}")
def static_file(name: str) -> FileResponse:
    return _serve(name)
