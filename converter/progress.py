"""Progress of a conversion, reported to whoever runs it: the CLI's progress bar, the service's
job record. A callback ``progress(stage, fraction)`` with a fraction of the whole job in [0, 1].

:class:`Phases` maps a phase's own steps (layers, path points) onto its share of the whole.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float], None]


def ignore(stage: str, fraction: float) -> None:
    """The callback when nobody listens."""


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
