"""The per-layer plan of a fixed-method conversion: decide each layer's method, rank and cost
(or why it stays), then apply the decision to the graph."""

from __future__ import annotations

from dataclasses import dataclass

from .graph import ModelGraph
from .layers import ConvLayer
from .methods import Factorization, Method, emitted_params
from .options import ConvertOptions
from .ranks import RankPolicy


@dataclass
class Decision:
    """What happens to one layer."""

    layer: ConvLayer
    method: Method | None = None
    rank: int | None = None
    fact: Factorization | None = None
    reason: str | None = None
    macs_after: int | None = None
    params_after: int | None = None

    @property
    def rewritten(self) -> bool:
        return self.reason is None


def decide(layer: ConvLayer, method: Method, policy: RankPolicy, options: ConvertOptions,
           mg: ModelGraph | None = None) -> Decision:
    """Method, rank and cost for one layer, or the reason it stays as it is (weights are
    read from ``mg`` only for layers that get this far)."""
    dec = Decision(layer, reason=options.skip_reason(layer.name) or method.ineligible(layer))
    if dec.reason:
        return dec
    if mg is not None:
        layer.load(mg)
    dec.fact = method.factorize(layer)
    rank, reason = policy.choose(method, layer, dec.fact)
    if rank is None:
        dec.reason = reason
        return dec
    dec.method, dec.rank = method, rank
    dec.macs_after, dec.params_after = method.macs(layer, rank), method.params(layer, rank)
    if layer.macs is not None and dec.macs_after >= layer.macs and not options.force:
        dec.reason = (f"no saving at rank {rank}: {dec.macs_after:,} >= {layer.macs:,} multiplications "
                      "(--force applies it anyway)")
    return dec


def apply(mg: ModelGraph, dec: Decision) -> list[str]:
    """Replace the layer's Conv (and folded BatchNormalization) by the method's nodes; return their names."""
    assert dec.method is not None and dec.fact is not None and dec.rank is not None
    emitted = dec.method.emit(dec.layer, dec.fact, dec.rank, mg)
    dec.params_after = emitted_params(emitted)
    removed = [dec.layer.batchnorm] if dec.layer.batchnorm is not None else []
    mg.replace(dec.layer.ref, emitted.nodes, emitted.initializers, removed)
    return [n.name for n in emitted.nodes]
