"""Every failure answers JSON with a clear message and the right status, never a traceback.

Body: ``{"error": <code>, "message": <one line>, "status": <int>}`` (plus ``details``, the
fields at fault, for request-validation errors and the option checks), so a curl user reads the
message and a client switches on the code.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sepconv.converter import SepconvError, first_line
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

log = logging.getLogger("sepconv.service")

#: converter error kinds (and the runner's) to HTTP statuses: ``too_large`` is a declared size past a
#: limit (SEPCONV_MAX_*), ``memory`` a check that needed more than the job memory limit
KIND_STATUS = {"invalid": 422, "no_conv": 422, "not_found": 404, "unsupported": 415, "too_large": 413,
               "memory": 413}


class ApiError(Exception):
    """An error the API answers on purpose."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None,
                 details: list[dict] | None = None) -> None:
        """``details``: as a request-validation error's, ``{"field", "message"}`` per field at fault."""
        super().__init__(message)
        self.status, self.code, self.message, self.headers, self.details = status, code, message, headers, details


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} with id {ident!r}")


def from_sepconv(exc: SepconvError) -> ApiError:
    return ApiError(KIND_STATUS.get(exc.kind, 422), exc.kind, str(exc))


def body(status: int, code: str, message: str, **extra) -> dict:
    return {"error": code, "message": message, "status": status, **extra}


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on the request's path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Mount):  # static files: read-only
            if route.matches(request.scope)[0] == Match.FULL:
                methods |= {"GET", "HEAD"}
            continue
        methods |= {m for m in _METHODS if route.matches({**request.scope, "method": m})[0] == Match.FULL}
    return sorted(methods)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _unavailable(message: str) -> JSONResponse:
    """A store that cannot take a write now (disk full, I/O error, a read-only mount): 503, not 500."""
    return JSONResponse(body(503, "storage_unavailable", message), 503, headers={"Retry-After": "30"})


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into a JSON answer."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        extra = {"details": exc.details} if exc.details else {}
        return JSONResponse(body(exc.status, exc.code, exc.message, **extra), exc.status, headers=exc.headers)

    @app.exception_handler(SepconvError)
    async def _sepconv(request: Request, exc: SepconvError) -> JSONResponse:
        e = from_sepconv(exc)
        return JSONResponse(body(e.status, e.code, e.message), e.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            details.append({"field": loc, "message": err.get("msg", "invalid")})
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return JSONResponse(body(400, "bad_request", "the request body is not valid JSON"), 400)
        summary = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details[:5])
        return JSONResponse(body(422, "invalid", f"invalid request: {summary}", details=details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        if exc.status_code == 405:
            allow = allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allow)}
            message = f"{request.method} is not allowed on {request.url.path}; it takes {', '.join(allow)}"
        return JSONResponse(body(exc.status_code, code, message), exc.status_code, headers=headers)

    @app.exception_handler(sqlite3.OperationalError)
    async def _store(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        log.error("the job database failed on %s %s: %s", request.method, request.url.path, exc)
        return _unavailable(f"the job database failed ({first_line(exc, 120)}); retry later")

    @app.exception_handler(OSError)
    async def _disk(request: Request, exc: OSError) -> JSONResponse:
        log.error("a file operation failed on %s %s: %s", request.method, request.url.path, exc)
        reason = exc.strerror or type(exc).__name__  # never the path: it is the server's own
        return _unavailable(f"the data directory failed ({reason}); retry later")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(body(500, "internal", "internal server error (logged on the server)"), 500)
