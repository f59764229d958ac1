"""Run the service with uvicorn: what ``sepconv serve`` and ``python -m sepconv.service`` call."""

from __future__ import annotations

import logging

from .settings import Settings
from .storage.owner import claim


def serve(host: str | None = None, port: int | None = None, workers: int | None = None,
          data_dir: str | None = None) -> None:
    """Start uvicorn (one process; ``workers`` is the size of the conversion worker pool)."""
    import uvicorn

    from .http.app import create_app

    settings = Settings.from_env().with_overrides(host=host, port=port, workers=workers, data_dir=data_dir)
    if settings.workers < 1:
        raise ValueError("workers must be at least 1")
    lock = claim(settings.data_dir)  # before anything touches the directory; a second server stops here
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("sepconv.service").info(
        "sepconv service on http://%s:%d (data dir %s, %d workers, API key %s)", settings.host, settings.port,
        settings.data_dir, settings.workers, "required" if settings.api_key else "off")
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                    timeout_graceful_shutdown=5)
    finally:
        lock.release()
