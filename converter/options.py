"""What the user asks for, checked once: every error names the option's field.

The CLI and the service build a :class:`ConvertOptions` and call :meth:`ConvertOptions.validate`
before anything is read; each renders an :class:`~sepconv.converter.errors.OptionError` in its
own words (``--max-error`` or ``max_error``).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import OptionError
from .methods import METHODS
from .metrics import BUILTIN, is_builtin
from .precision import AUTO_PRECISION, FLOAT, PRECISIONS
from .ranks import RankPolicy

#: The method name that lets sepconv choose method and rank per layer (``converter.auto``).
AUTO = "auto"
#: The method name that rewrites no Conv (for int8 alone, with sepconv's budget, check and report).
NONE = "none"
#: Auto mode's budget on the relative L2 error of every model output, when none is given.
DEFAULT_MAX_ERROR = 0.01


def budget_max_error(max_error: float | None, max_accuracy_drop: float | None,
                     max_metric_drop: float | None) -> float | None:
    """The error budget for what a user typed: theirs, else DEFAULT_MAX_ERROR, except that an accuracy
    or metric budget given alone replaces it (None). The CLI and the service both apply this rule."""
    if max_error is None and max_accuracy_drop is None and max_metric_drop is None:
        return DEFAULT_MAX_ERROR
    return max_error


@dataclass
class ConvertOptions:
    """What the user asked for; recorded in the report and the model's metadata."""

    method: str = "depthwise"
    rank: str | int | None = None
    energy: float | None = None
    ratio: float | None = None
    force: bool = False
    include: str | None = None
    exclude: str | None = None
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    verify: bool = True
    #: Verification and auto mode use at most this many of the data's samples, drawn with ``seed``.
    max_samples: int = 1024
    seed: int = 0
    threads: int | None = None
    # auto mode (``method="auto"``): the budget checked on held-out data. The output-error
    # budget is off (None) only when an accuracy budget is given instead.
    max_error: float | None = DEFAULT_MAX_ERROR
    max_accuracy_drop: float | None = None
    # the user's own measure (``converter.metrics``): a built-in name or FILE.py:FUNCTION, and how
    # far the converted model's score may fall below the original's on the held-out data
    metric: str | None = None
    max_metric_drop: float | None = None
    plot: str | None = None
    #: float (the model's own), int8 (every layer ONNX Runtime can run in int8, after the rewrite),
    #: or auto (per layer, within the budget; ``converter.auto.precision``)
    precision: str = FLOAT

    @property
    def auto(self) -> bool:
        return self.method == AUTO

    @property
    def budgeted(self) -> bool:
        """Whether a budget is searched within: auto mode, or precision chosen per layer."""
        return self.auto or self.precision == AUTO_PRECISION

    def validate(self, has_data: bool | None = None) -> RankPolicy:
        """Raise the first :class:`OptionError`; return the rank policy the options describe.
        ``has_data``: whether data comes with them (None: not known here); without data, a budget
        that only labelled data can check is refused rather than "checked" on random inputs."""
        choices = (*METHODS, AUTO, NONE)
        if self.method not in choices:
            raise OptionError("method", f"choose one of {', '.join(choices)}", repr(self.method))
        if self.precision not in PRECISIONS:
            raise OptionError("precision", f"choose one of {', '.join(PRECISIONS)}", repr(self.precision))
        if self.method == NONE and self.precision == FLOAT:
            raise OptionError("method", "none rewrites no Conv: it needs --precision int8 or auto", repr(self.method))
        if self.max_samples < 1:
            raise OptionError("max_samples", "must be at least 1", self.max_samples)
        if self.threads is not None and self.threads < 1:
            raise OptionError("threads", "must be at least 1", self.threads)
        for name in ("include", "exclude"):
            pattern = getattr(self, name)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise OptionError(name, f"not a valid regular expression ({exc})", repr(pattern)) from None
        self._validate_auto()
        if has_data is False and self.budgeted and self.max_accuracy_drop is not None:
            raise OptionError("max_accuracy_drop", "needs data with 'labels' (one class index per sample): random "
                              "inputs have no accuracy to keep", self.max_accuracy_drop)
        return RankPolicy.from_options(self.rank, self.energy, self.ratio)

    def _validate_auto(self) -> None:
        if not self.auto and self.plot is not None:
            raise OptionError("plot", "applies to method auto only", self.plot)
        if not self.budgeted:
            for name, unset in (("max_error", (None, DEFAULT_MAX_ERROR)), ("max_accuracy_drop", (None,)),
                                ("metric", (None,)), ("max_metric_drop", (None,))):
                if getattr(self, name) not in unset:
                    raise OptionError(name, "applies to method auto or precision auto only", getattr(self, name))
            return
        if self.max_error is None and self.max_accuracy_drop is None and self.max_metric_drop is None:
            raise OptionError("max_error", "auto mode needs a budget: an output error, an accuracy drop, a metric "
                                           "drop, or several")
        if self.max_error is not None and not self.max_error > 0:
            raise OptionError("max_error", "must be above 0", self.max_error)
        if self.max_accuracy_drop is not None and self.max_accuracy_drop < 0:
            raise OptionError("max_accuracy_drop", "must be 0 or more", self.max_accuracy_drop)
        self._validate_metric()
        if self.plot is not None and importlib.util.find_spec("matplotlib") is None:
            raise OptionError("plot", "needs matplotlib: pip install 'sepconv[plot]'", self.plot)

    def _validate_metric(self) -> None:
        if (self.metric is None) != (self.max_metric_drop is None):
            name = "metric" if self.metric is None else "max_metric_drop"
            raise OptionError(name, "a metric budget needs both the metric and its largest drop")
        if self.max_metric_drop is not None and self.max_metric_drop < 0:
            raise OptionError("max_metric_drop", "must be 0 or more", self.max_metric_drop)
        if self.metric is not None and not is_builtin(self.metric):
            path, sep, _ = self.metric.rpartition(":")
            if not sep or not path.endswith(".py"):
                raise OptionError("metric", f"expected one of {', '.join(BUILTIN)} or FILE.py:FUNCTION",
                                  repr(self.metric))
            if not Path(path).is_file():
                raise OptionError("metric", f"{path}: no such file", repr(self.metric))

    def skip_reason(self, layer_name: str) -> str | None:
        """Why --include/--exclude leave this layer alone, or None."""
        if self.include and not re.search(self.include, layer_name):
            return "not matched by --include"
        if self.exclude and re.search(self.exclude, layer_name):
            return "matched by --exclude"
        return None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["policy"] = self.validate().describe()
        return d
