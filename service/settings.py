"""Settings from the environment (``SEPCONV_*``), read in one place so every module sees the same values.

pydantic-settings reads and checks the variables; an empty variable counts as unset. A bad value
stops the server at startup with a one-line ``ValueError`` that names the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .embedded.memory_limit import MIN_MB, default_job_memory_mb

GIB = 1024 ** 3
ENV_PREFIX = "SEPCONV_"


def default_data_dir() -> Path:
    """Per user, outside the code: ``$XDG_DATA_HOME/sepconv`` or ``~/.local/share/sepconv`` on Linux."""
    return Path(user_data_dir("sepconv", appauthor=False))


class Settings(BaseSettings):
    """Everything the service can be told; defaults documented in the README."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    api_key: str | None = None
    open_docs: bool = False  # /docs, /redoc and /openapi.json without the API key (when one is set)
    max_upload_bytes: int = Field(GIB, ge=1)
    body_timeout_s: float = Field(60.0, gt=0)  # an upload's body with no bytes for this long: 408
    workers: int = Field(2, ge=1)
    job_timeout_s: float = Field(1800.0, ge=0.1)
    max_queued_jobs: int = Field(100, ge=1)
    retention_days: float = Field(30.0, ge=0.0)
    retention_interval_s: float = Field(3600.0, ge=1.0)
    on_restart: Literal["fail", "requeue"] = "fail"  # what happens to jobs that were running
    # each job process's memory limit (unset: see job_memory_limit_mb)
    job_memory_mb: int | None = Field(None, ge=MIN_MB)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1)
    # scale-out: jobs on Celery workers through this Redis broker (unset: the embedded worker pool)
    broker_url: str | None = Field(None, pattern=r"^redis://")
    # blobs in an S3-compatible store (s3://bucket/prefix; unset: the data directory only)
    blob_url: str | None = Field(None, pattern=r"^s3://[^/]+")

    @field_validator("data_dir")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("on_restart", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def job_memory_limit_mb(self) -> int:
        """The memory limit of each process that runs jobs: ``SEPCONV_JOB_MEMORY_MB``, or 80% of the
        machine's (or container's) memory shared by the workers and the validator, at least 512."""
        return self.job_memory_mb or default_job_memory_mb(self.workers + 1)

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``SEPCONV_*`` variables; a bad value is a one-line ValueError at startup."""
        try:
            return cls()
        except ValidationError as exc:
            raise ValueError(_first_problem(exc)) from None

    def with_overrides(self, **changes) -> Settings:
        """Command-line flags win over the environment; ``None`` means 'not given'."""
        given = {k: v for k, v in changes.items() if v is not None}
        if "data_dir" in given:
            given["data_dir"] = Path(given["data_dir"]).expanduser()
        return self.model_copy(update=given)


#: pydantic's error types, in the words the service has always used
_MESSAGES = {"int_parsing": "expected a whole number", "float_parsing": "expected a number",
             "literal_error": "choose 'fail' or 'requeue'",
             "string_pattern_mismatch": "expected a redis://host:port/db or s3://bucket/prefix URL"}


def _first_problem(exc: ValidationError) -> str:
    """``SEPCONV_WORKERS='0': must be at least 1`` for the first bad variable."""
    err = exc.errors()[0]
    name = ENV_PREFIX + str(err["loc"][0]).upper() if err["loc"] else "settings"
    if err["type"] == "greater_than_equal":
        problem = f"must be at least {err['ctx']['ge']}"
    else:
        problem = _MESSAGES.get(err["type"], err["msg"])
    return f"{name}={err['input']!r}: {problem}"
