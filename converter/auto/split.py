"""Auto mode's data: a seeded split into fitting and held-out samples.

The search fits and chooses on the fitting samples; the budget is then checked on the held-out
ones, which the fits never saw. Where the model fixes its batch size, whole batches are kept
together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import InputSet

#: Random samples drawn when no data is given (half fit, half held out).
RANDOM_SAMPLES = 16
#: At most this many samples are fit on (more fit samples shrink the refit's gap to held-out data:
#: 1.9x at 32, 1.2x at 128 on the wide digits model), and at most HELD_MAX are held out.
FIT_MAX, HELD_MAX = 128, 512
#: Values per input batch when the batch size is free (bounds the memory of one run).
BATCH_VALUES = 2_000_000


@dataclass
class Split:
    fit: InputSet
    held: InputSet
    note: str | None  # why nothing could be held out, if so

    def section(self, seed: int) -> dict:
        return {"fit": self.fit.samples, "held_out": self.held.samples, "note": self.note, "seed": seed}


def split(inputs: InputSet, seed: int, unit: int) -> Split:
    """Fitting and held-out samples (``unit``: the timing batch; whole batches where the model fixes it)."""
    n = inputs.samples
    per = int(np.prod(next(iter(inputs.arrays.values())).shape[1:]))
    batch = unit if inputs.fixed else int(np.clip(BATCH_VALUES // max(per, 1), 1, min(32, inputs.batch)))
    if n < 2 * unit:
        everything = inputs.take(np.arange(n), batch)
        return Split(everything, everything, "too few samples to hold any out: the budget was checked on the "
                                             "fitting data")
    perm = np.random.default_rng(seed).permutation(n)
    n_fit = max(unit, min(FIT_MAX, n // 2) // unit * unit)
    n_held = min(HELD_MAX, n - n_fit) // unit * unit
    return Split(inputs.take(perm[:n_fit], batch), inputs.take(perm[n_fit:n_fit + n_held], batch), None)


def head(inputs: InputSet, n: int, unit: int) -> InputSet:
    """At most n samples, in whole units."""
    return inputs.head(max(unit, min(n, inputs.samples) // unit * unit))
