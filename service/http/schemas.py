"""Request and response bodies (pydantic v2), apart from the store's rows.

Requests forbid unknown fields, so a typo (``"rnak": 2``) is a 422 that names it instead of
a silently ignored option.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field
from sepconv.converter import budget_max_error
from sepconv.converter.bench import MAX_BATCH, MAX_MODELS

from ..jobs.variants import conversion_tag

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Dim = Annotated[int, Field(ge=1, le=1_000_000)]
Shapes = Annotated[dict[Annotated[str, Field(max_length=256)], Annotated[list[Dim], Field(min_length=1, max_length=8)]],
                   Field(max_length=64)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversionRequest(_Request):
    """The converter's options (see ``sepconv convert --help``) plus an optional dataset."""

    method: Literal["depthwise", "spatial", "auto", "none"] = Field(
        "depthwise", description="none: no Conv rewritten (with precision int8 or auto)")
    precision: Literal["float", "int8", "auto"] = Field(
        "float", description="int8: every layer ONNX Runtime can run in int8, calibrated on the dataset; auto: int8 "
                             "per layer within the budget, kept only where it measures faster")
    rank: Annotated[int, Field(ge=1)] | Literal["full"] | None = Field(
        None, description="terms kept per layer: a whole number or 'full' (default policy: ratio 0.5)")
    energy: float | None = Field(None, gt=0, le=1, description="smallest rank keeping this fraction of the energy")
    ratio: float | None = Field(None, gt=0, description="largest rank costing at most this x the multiplications")
    force: bool = False
    include: str | None = Field(None, max_length=500, description="regex: only Convs whose name matches")
    exclude: str | None = Field(None, max_length=500, description="regex: skip Convs whose name matches")
    input_shapes: Shapes = Field(default_factory=dict,
                                 description="fix symbolic input dims, e.g. {'input': [1,3,224,224]}")
    verify: bool = True
    max_samples: int = Field(1024, ge=1, le=1_000_000, description="verification and auto mode use at most this "
                             "many of the data's samples, drawn with seed (the report says how many)")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    threads: int | None = Field(None, ge=1, le=256)
    max_error: float | None = Field(None, gt=0, description="auto (method or precision): output-error budget "
                                    "(default 0.01, or none when max_accuracy_drop is given)")
    max_accuracy_drop: float | None = Field(None, ge=0)
    # the service never runs code from a request: built-in metrics only (the CLI also takes FILE.py:FUNCTION)
    metric: Annotated[str, Field(max_length=300, pattern=r"^(top1_agreement|detections:[^,]+,[^,]+)$")] | None = \
        Field(None, description="auto: top1_agreement, or detections:BOXES,SCORES (two output names)")
    max_metric_drop: float | None = Field(None, ge=0, description="auto: largest drop of the metric below the "
                                          "original's score on held-out data")
    dataset_id: Id | None = Field(None, description="an uploaded .npz used for verification / calibration")

    def options(self) -> dict:
        opts = self.model_dump(exclude={"dataset_id"})
        opts["max_error"] = budget_max_error(opts["max_error"], opts["max_accuracy_drop"], opts["max_metric_drop"])
        return opts


class BenchmarkRequest(_Request):
    model_ids: list[Id] = Field(min_length=1, max_length=MAX_MODELS,
                                description="one model, or up to six to compare; the first is the reference the "
                                            "others' speedup and output difference are against")
    dataset_id: Id | None = None
    batch: int | None = Field(None, ge=1, le=MAX_BATCH,
                              description="the batch size to time at (default: the dataset's first batch, or the "
                                          "model's own fixed batch)")
    input_shapes: Shapes = Field(default_factory=dict)
    runs: int = Field(50, ge=1, le=10_000)
    warmup: int = Field(5, ge=0, le=1_000)
    threads: int | None = Field(None, ge=1, le=256)
    seed: int = Field(0, ge=0, le=2**31 - 1)


class ModelOut(BaseModel):
    id: str
    name: str
    sha256: str
    size: int
    created: float
    parent_id: str | None = Field(None, description="the model this one was converted from")
    source_job: str | None = Field(None, description="the conversion job that made it")
    tag: str | None = Field(None, description="a converted model: what its conversion asked for, in a few words "
                                              "('auto 1% · int8'), to tell models of one name apart")
    opset: int | None
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    analysis: dict[str, Any] = Field(description="Convs, eligible Convs, multiplications, per-layer rows")

    @classmethod
    def from_row(cls, row: dict, summary: bool = False, options: dict | None = None) -> ModelOut:
        """The model; ``summary``: without the per-layer rows (a list's size never follows a model's structure);
        ``options``: those of the conversion that made it, for its tag."""
        a = row["analysis"]
        left_out = ("opset", "inputs", "outputs", "layers") if summary else ("opset", "inputs", "outputs")
        return cls(id=row["id"], name=row["name"], sha256=row["sha256"], size=row["size"], created=row["created"],
                   parent_id=row.get("parent_id"), source_job=row.get("source_job"),
                   tag=conversion_tag(options) if options is not None else None, opset=a.get("opset"),
                   inputs=a.get("inputs", []), outputs=a.get("outputs", []),
                   analysis={k: v for k, v in a.items() if k not in left_out})


class DatasetOut(BaseModel):
    id: str
    name: str
    sha256: str
    size: int
    created: float
    arrays: list[dict[str, Any]]

    @classmethod
    def from_row(cls, row: dict) -> DatasetOut:
        return cls(**{k: row[k] for k in ("id", "name", "sha256", "size", "created", "arrays")})


class JobOut(BaseModel):
    id: str
    kind: Literal["conversion", "benchmark"]
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: dict[str, Any] | None
    created: float
    started: float | None
    finished: float | None
    timings: dict[str, float | None]
    params: dict[str, Any]
    result: dict[str, Any] | None = Field(None, description="conversion: {model_id, report, verdict} (model_id "
                                          "null when it changed nothing); benchmark: {models: [latencies, and "
                                          "speedup, output_difference and accuracy against the first], batch_size, "
                                          "inputs, accuracy_samples, accuracy_note, runs, warmup, threads}")
    error: dict[str, Any] | None = Field(None, description="{kind, message} when the job failed")
    tag: str | None = Field(None, description="a conversion: what it asked for, in a few words ('auto 1% · int8')")

    @classmethod
    def from_row(cls, row: dict, summary: bool = False) -> JobOut:
        """The job; ``summary``: its conversion report without the per-layer rows (GET /v1/jobs/{id} has them)."""
        started, finished, created = row["started"], row["finished"], row["created"]
        if summary and isinstance(row.get("result"), dict) and isinstance(row["result"].get("report"), dict):
            report = {k: v for k, v in row["result"]["report"].items() if k != "layers"}
            row = {**row, "result": {**row["result"], "report": report}}
        timings = {"queued_s": (started or finished or created) - created if (started or finished) else None,
                   "run_s": finished - started if started and finished else None}
        options = (row["params"] or {}).get("options") if row["kind"] == "conversion" else None
        return cls(**{k: row[k] for k in ("id", "kind", "state", "progress", "created", "started", "finished",
                                          "params", "result", "error")}, timings=timings,
                   tag=conversion_tag(options) if isinstance(options, dict) else None)


#: a list's page: bounded here, so a huge or negative number is a 422 and never reaches SQLite's 64-bit integers
MAX_OFFSET = 2 ** 31 - 1
Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]


class Page(BaseModel):
    items: list[Any]
    limit: int
    offset: int


class ModelPage(Page):
    items: list[ModelOut] = Field(description="summaries: each analysis without its per-layer rows "
                                              "(GET /v1/models/{id} has them)")


class DatasetPage(Page):
    items: list[DatasetOut]


class JobPage(Page):
    items: list[JobOut] = Field(description="summaries: each conversion report without its per-layer rows "
                                            "(GET /v1/jobs/{id} has them)")


class AskedOut(BaseModel):
    kind: Literal["rank", "energy", "ratio", "max_error", "max_accuracy_drop", "max_metric_drop"]
    value: float | str
    default: bool = Field(False, description="the default rank policy (none was given)")


class VerdictBrief(BaseModel):
    level: Literal["good", "warn", "broken", "unchecked", "unchanged"]
    label: str
    summary: str


class VariantOut(BaseModel):
    """One conversion of the model: what was asked, what it gained, how far its outputs moved."""

    job_id: str = Field(description="the conversion job: its result is GET /v1/jobs/{job_id}")
    state: Literal["queued", "running", "succeeded", "failed"]
    created: float
    finished: float | None
    model_id: str | None = Field(description="the converted model; null until it succeeds, or when it changed nothing")
    name: str | None = Field(description="the converted model's file name")
    tag: str = Field(description="what the conversion asked for, in a few words ('auto 1% · int8')")
    method: str | None
    precision: str | None = Field(description="the precision asked for")
    precision_chosen: str | None = Field(description="what it came to: float, int8 or mixed")
    asked: list[AskedOut] = Field(description="the rank policy (fixed methods) and the error or accuracy budget")
    macs_ratio: float | None = Field(description="the Convs' multiplications over the original's")
    latency_ratio: float | None = Field(description="measured whole-model latency over the original's (auto "
                                        "mode, or int8 alone); null where nothing measured it")
    error: float | None = Field(description="largest relative L2 error of an output against the original's")
    error_on: Literal["held-out", "verification"] | None = Field(
        description="held-out: the samples auto mode (or precision auto) kept aside; verification: the check after")
    accuracy_drop: float | None = Field(description="accuracy drop in points, where the data has labels")
    size: int | None = Field(description="the converted model's file size in bytes")
    verdict: VerdictBrief | None
    failure: str | None = Field(description="why the job failed")
    options: dict[str, Any] = Field(description="the conversion's options, to convert again with them")
    dataset_id: str | None


#: variants carry more than a job's summary: a smaller page
VariantLimit = Annotated[int, Query(ge=1, le=200, description="items per page")]


class VariantPage(Page):
    model_id: str
    items: list[VariantOut] = Field(description="the conversions made from the model, newest first")


class ErrorOut(BaseModel):
    error: str
    message: str
    status: int
    details: list[dict[str, str]] | None = Field(None, description="the fields at fault, each with its message")


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 404, 409, 413, 415, 422, 429)
}
