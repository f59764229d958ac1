"""Settings from the environment, read in one place so every module sees the same values."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

GIB = 1024 ** 3


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/sepconv`` or ``~/.local/share/sepconv``: per user, outside the code."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sepconv"


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def _float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a number") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r}: must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told; defaults documented in the README."""

    data_dir: Path
    api_key: str | None = None
    max_upload_bytes: int = GIB
    workers: int = 2
    job_timeout_s: float = 1800.0
    max_queued_jobs: int = 100
    retention_days: float = 30.0
    retention_interval_s: float = 3600.0
    on_restart: str = "fail"  # what happens to jobs that were running: "fail" or "requeue"
    host: str = "127.0.0.1"
    port: int = 8000

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``SEPCONV_*`` variables; a bad value is a one-line ValueError at startup."""
        on_restart = os.environ.get("SEPCONV_ON_RESTART", "fail").strip().lower() or "fail"
        if on_restart not in ("fail", "requeue"):
            raise ValueError(f"SEPCONV_ON_RESTART={on_restart!r}: choose 'fail' or 'requeue'")
        return cls(
            data_dir=Path(os.environ.get("SEPCONV_DATA_DIR") or default_data_dir()).expanduser(),
            api_key=os.environ.get("SEPCONV_API_KEY") or None,
            max_upload_bytes=_int("SEPCONV_MAX_UPLOAD_BYTES", GIB, 1),
            workers=_int("SEPCONV_WORKERS", 2, 1),
            job_timeout_s=_float("SEPCONV_JOB_TIMEOUT_S", 1800.0, 0.1),
            max_queued_jobs=_int("SEPCONV_MAX_QUEUED_JOBS", 100, 1),
            retention_days=_float("SEPCONV_RETENTION_DAYS", 30.0, 0.0),
            retention_interval_s=_float("SEPCONV_RETENTION_INTERVAL_S", 3600.0, 1.0),
            on_restart=on_restart,
            host=os.environ.get("SEPCONV_HOST", "127.0.0.1"),
            port=_int("SEPCONV_PORT", 8000, 1),
        )

    def with_overrides(self, **changes) -> Settings:
        """Command-line flags win over the environment; ``None`` means 'not given'."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "data_dir" in given:
            given["data_dir"] = Path(given["data_dir"]).expanduser()
        return replace(self, **given)
