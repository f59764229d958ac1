"""Progress of a conversion, reported to whoever runs it: the CLI's progress bar, the service's
job record. A callback ``progress(stage, fraction)`` with a fraction of the whole job in [0, 1]
and a stage a person reads: the phase, and within it the sub-step under way
("fitting candidates: layer 3 of 7 (conv2_1)"; see :func:`sub_step`).

:class:`Phases` maps a phase's own steps (layers, path points) onto its share of the whole; the
parts of a phase hear a :data:`Steps` callback, ``steps(done, total, stage)``.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float], None]
#: A phase's own steps: ``steps(done, total, stage)``, ``done`` of ``total`` finished, ``stage``
#: what is under way now (None: the phase's name).
Steps = Callable[[float, float, "str | None"], None]


def ignore(stage: str, fraction: float) -> None:
    """The callback when nobody listens."""


def ignore_steps(done: float, total: float, stage: str | None = None) -> None:
    """The step callback when nobody listens."""


def sub_step(phase: str, what: str, k: int, n: int, name: str | None = None) -> str:
    """A phase's sub-step as a person reads it: ``fitting candidates: layer 3 of 7 (conv2_1)``."""
    return f"{phase}: {what} {k} of {n}" + (f" ({name})" if name else "")


def phase_of(stage: str) -> str:
    """The phase a stage text belongs to: the part before its colon."""
    return stage.split(":", 1)[0]


class Phases:
    """Consecutive phases of a job, each a share of the whole; ``step`` reports within the current one."""

    def __init__(self, progress: Progress | None, shares: dict[str, float]) -> None:
        self.progress = progress or ignore
        total = sum(shares.values())
        self.starts, start = {}, 0.0
        for name, share in shares.items():
            self.starts[name] = (start, share / total)
            start += share / total

    def step(self, phase: str, done: float, total: float = 1.0, stage: str | None = None) -> None:
        """``done`` of ``total`` steps of ``phase`` are finished (``stage``: what the user reads)."""
        start, share = self.starts[phase]
        self.progress(stage or phase, min(1.0, start + share * (done / total if total else 1.0)))
