"""Rank policies: how many terms of each layer's SVD to keep.

``--rank N`` (``full`` = exact), ``--energy E`` (smallest rank keeping fraction E of the
squared singular values) and ``--ratio R`` (largest rank costing at most R x the
original's multiplications) are all decided per layer from one SVD.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import OptionError
from .layers import ConvLayer
from .methods import Factorization, Method

#: The policy when the user names none: each layer's largest rank within half its multiplications.
#: (The seed's m = 1 halves far more, but on the wide digits model it costs 83 points of accuracy.)
DEFAULT_POLICY = ("ratio", 0.5)


@dataclass(frozen=True)
class RankPolicy:
    kind: str  # "rank", "full", "energy" or "ratio"
    value: float | None = None

    @classmethod
    def from_options(cls, rank: str | int | None = None, energy: float | None = None,
                     ratio: float | None = None) -> RankPolicy:
        values = {"rank": rank, "energy": energy, "ratio": ratio}
        given = [k for k, v in values.items() if v is not None]
        if len(given) > 1:
            raise OptionError(given[1], f"give one rank policy only ({' and '.join(given)} are both set)",
                              values[given[1]])
        if rank is not None:
            if str(rank).strip().lower() == "full":
                return cls("full")
            try:
                n = int(str(rank))
            except ValueError:
                raise OptionError("rank", "expected a positive whole number or 'full'", repr(rank)) from None
            if n < 1:
                raise OptionError("rank", "must be at least 1", rank)
            return cls("rank", n)
        if energy is not None:
            if not 0.0 < energy <= 1.0:
                raise OptionError("energy", "must be in (0, 1]", energy)
            return cls("energy", float(energy))
        if ratio is not None:
            if not 0.0 < ratio <= 1.0:  # a share of the original's multiplications: above 1 changes nothing
                raise OptionError("ratio", "must be in (0, 1], a share of the original's multiplications", ratio)
            return cls("ratio", float(ratio))
        return cls(*DEFAULT_POLICY)

    def describe(self) -> str:
        return "full" if self.kind == "full" else f"{self.kind} {self.value:g}"

    def choose(self, method: Method, layer: ConvLayer, fact: Factorization) -> tuple[int | None, str | None]:
        """The rank for this layer, or (None, reason) when no rank satisfies the policy."""
        full = fact.full_rank
        if self.kind == "full":
            return full, None
        if self.kind == "rank":
            return min(int(self.value or 1), full), None
        if self.kind == "energy":
            kept = fact.energies()
            for r in range(1, full + 1):
                if kept[r - 1] >= (self.value or 0.0) - 1e-12:
                    return r, None
            return full, None
        budget = (self.value or 0.0) * (layer.macs or 0)
        best = None
        for r in range(1, full + 1):
            if method.macs(layer, r) <= budget:
                best = r
            else:
                break
        if best is None:
            return None, f"even rank 1 costs more than {self.value:g} x the original's multiplications"
        return best, None
