"""The FastAPI app: routers, error handlers, the API key, and the services' start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from sepconv.converter import __version__

from .. import errors
from ..settings import Settings
from ..wiring import Services
from . import docs
from .routes import benchmarks, datasets, health, jobs, models, web
from .security import require_api_key

log = logging.getLogger("sepconv.service")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the services (stores, workers) start with it and stop with it."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = Services(settings)
        app.state.services = svc
        recovered = svc.jobs.recover(settings.on_restart)
        if any(recovered.values()):
            log.info("restart recovery: %s", recovered)
        cleaner = asyncio.create_task(svc.retention.run())
        try:
            yield
        finally:
            cleaner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleaner
            await asyncio.to_thread(svc.close)

    # redirect_slashes=False: "/v1/jobs/" is not "/v1/jobs"; a 307 to another URL (which clients
    # follow with or without the method and body) would hide the mistake: answer a JSON 404/405
    app = FastAPI(title="sepconv", version=__version__, lifespan=lifespan, redirect_slashes=False,
                  description="Upload ONNX CNNs, factorize their Conv layers, benchmark and download them. "
                              "Errors are JSON: {error, message, status}.",
                  docs_url=None, redoc_url=None, openapi_url=None)  # docs.install serves them, offline
    errors.install(app)
    secured = [Depends(require_api_key)]
    for r in (models.router, datasets.router, jobs.router, benchmarks.router):
        app.include_router(r, dependencies=secured)
    app.include_router(health.router)
    docs.install(app)  # /docs, /redoc and /openapi.json from this server, behind the key (SEPCONV_OPEN_DOCS)
    app.include_router(web.router)  # the web page at /, open like the health checks (its data needs the key)
    return app
