"""Candidate rewrites of one Conv, each as linear features of the input patch plus a last factor.

Every pair sepconv emits is linear in the layer's input patch ``x`` (``Cin*kh*kw`` values):
a first part computes features ``f = G x (+ g)``, the last factor maps them to the outputs,
``y ~ L f + b``. That one form lets every kind be scored on real patches, refit by least
squares and emitted the same way. Kinds: ``spatial`` (features are the vertical Conv's
outputs at the kw columns), ``depthwise`` (per-channel m), ``tucker2`` (the core's outputs)
and ``channel`` (the principal directions of the outputs). Ranks come from a grid that
ONNX Runtime runs fast: multiples of 16, else 8 or 4.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from math import prod

import numpy as np

from ..layers import ConvLayer
from ..methods import Emitted, Factorization
from ..methods.base import Namer, common_ineligible
from ..methods.channel import ChannelMethod, channel_factors
from ..methods.depthwise import DepthwiseMethod, depthwise_factors, depthwise_svd
from ..methods.spatial import SpatialMethod, spatial_factors, spatial_svd
from ..methods.tucker2 import Tucker2Method, emit_chain, tucker2_factors, tucker2_svd

KINDS = ("spatial", "depthwise", "tucker2", "channel")
#: Ranks whose pair costs more than this share of the original's multiplications are not tried.
MAX_MACS_SHARE = 0.8
#: Ranks tried per kind and layer.
RANKS_PER_KIND = 6
CANDIDATE_METHODS = {"spatial": SpatialMethod(), "depthwise": DepthwiseMethod(), "tucker2": Tucker2Method(),
            "channel": ChannelMethod()}


@dataclass
class Candidate:
    """One rewrite of one layer at one rank; ``parts`` hold the first factor for emission."""

    kind: str
    rank: int
    parts: dict[str, np.ndarray]
    last: np.ndarray  # Cout x d
    bias: np.ndarray  # Cout
    macs: int
    params: int
    error: float = float("nan")  # relative error of the layer's outputs on the fitting patches
    ms: float | None = None
    orig_ms: float | None = None
    weight_error: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def variant(self) -> str:
        return f"{self.kind}:r{self.rank}"

    def with_last(self, last: np.ndarray, bias: np.ndarray) -> Candidate:
        return dataclasses.replace(self, last=last, bias=bias)


def auto_ineligible(layer: ConvLayer) -> str | None:
    """Why auto mode leaves this layer alone (on top of what rules out every method)."""
    reason = common_ineligible(layer)
    if reason:
        return reason
    if layer.graph_path != "main":
        return "inside a subgraph: auto mode rewrites the main graph only"
    if layer.group != 1:
        return "grouped Conv: auto mode takes group = 1 only"
    if len(layer.kernel) != 2:
        return "auto mode takes 2-D kernels only"
    if layer.spatial_in is None or layer.spatial_out is None:
        return "unknown shape (fix symbolic input dims with --input-shape NAME=1x3x224x224)"
    if layer.cin <= 4:
        return f"stem with {layer.cin} input channels: a rewrite wastes most of its saving"
    assert layer.weight is not None
    if layer.weight.dtype != np.float32:
        return f"weight dtype {layer.weight.dtype}: auto mode takes float32 only"
    return None


def rank_grid(full: int, channels: int, cost, limit: float) -> list[int]:
    """Aligned ranks below ``full`` whose cost stays under ``limit``; at most RANKS_PER_KIND, spread out."""
    align = 16 if channels >= 64 else 8 if channels >= 16 else 4
    ranks = [r for r in range(align, full, align) if cost(r) <= limit]
    if len(ranks) > RANKS_PER_KIND:
        pick = np.unique(np.round(np.linspace(0, len(ranks) - 1, RANKS_PER_KIND)).astype(int))
        ranks = [ranks[i] for i in pick]
    return ranks


def features(cand: Candidate, x: np.ndarray) -> np.ndarray:
    """The first part's outputs ``f`` (rows x d) for input patches ``x`` (rows x Cin*kh*kw)."""
    p = cand.parts
    if cand.kind == "spatial":  # V[Cin, kh, r]; features (j, column)
        v = p["v"]
        cin, kh, r = v.shape
        xs = x.reshape(len(x), cin, kh, -1)
        return np.einsum("ncyx,cyj->njx", xs, v, optimize=True).reshape(len(x), -1)
    if cand.kind == "depthwise":  # D[Cin, m, kh*kw]; features (c, j)
        d = p["d"]
        xs = x.reshape(len(x), d.shape[0], -1)
        return np.einsum("ncs,cjs->ncj", xs, d, optimize=True).reshape(len(x), -1)
    f = x @ p["g"].T
    return f + p["g_bias"] if "g_bias" in p else f


def layer_error(cand: Candidate, x: np.ndarray, y: np.ndarray, y_scale: float) -> float:
    """Relative error of the candidate's outputs against the original's (centred norm)."""
    pred = features(cand, x) @ cand.last.T + cand.bias
    return float(np.linalg.norm(pred - y) / y_scale)


def outputs(layer: ConvLayer, x: np.ndarray) -> np.ndarray:
    """The original layer's outputs (BatchNormalization folded in) for patches x, in float64."""
    assert layer.weight is not None
    y = x.astype(np.float64) @ layer.weight.astype(np.float64).reshape(layer.cout, -1).T
    return y if layer.bias is None else y + layer.bias.astype(np.float64)


def build(layer: ConvLayer, x: np.ndarray, y: np.ndarray) -> list[Candidate]:
    """Every candidate on the rank grid for this layer, with its weight-only last factor."""
    assert layer.weight is not None
    w = layer.weight.astype(np.float64)
    b = np.zeros(layer.cout) if layer.bias is None else layer.bias.astype(np.float64)
    cout, cin, kh, kw = w.shape
    limit = MAX_MACS_SHARE * (layer.macs or 0)
    chans = min(cin, cout)
    out: list[Candidate] = []
    if kh > 1 and kw > 1:
        fact = spatial_svd(layer.weight)
        m = CANDIDATE_METHODS["spatial"]
        for r in rank_grid(min(cin * kh, cout * kw), chans, lambda r, m=m: m.macs(layer, r), limit):
            v, h = spatial_factors(fact, w.shape, 1, r)  # [r, Cin, kh, 1], [Cout, r, 1, kw]
            out.append(Candidate("spatial", r, {"v": v[..., 0].transpose(1, 2, 0)}, h.reshape(cout, -1), b,
                                 m.macs(layer, r), m.params(layer, r)))
    dfact = depthwise_svd(layer.weight)
    m = CANDIDATE_METHODS["depthwise"]
    for r in (1, 2):
        if r < dfact.full_rank and m.macs(layer, r) <= limit:
            d, p = depthwise_factors(dfact, w.shape, 1, r)  # [Cin*r, 1, kh, kw], [Cout, Cin*r, 1, 1]
            out.append(Candidate("depthwise", r, {"d": d.reshape(cin, r, -1)}, p.reshape(cout, -1), b,
                                 m.macs(layer, r), m.params(layer, r)))
    tfact = tucker2_svd(layer.weight)
    m = CANDIDATE_METHODS["tucker2"]
    for r in rank_grid(min(cin, cout), chans, lambda r, m=m: m.macs(layer, r), limit):
        pre, core, post = tucker2_factors(layer.weight, tfact, r)
        g = np.matmul(core.reshape(r, r, -1).transpose(2, 0, 1), pre).transpose(1, 2, 0).reshape(r, -1)
        out.append(Candidate("tucker2", r, {"g": g, "pre": pre, "core": core}, post, b,
                             m.macs(layer, r), m.params(layer, r)))
    m = CANDIDATE_METHODS["channel"]
    mean = y.mean(0)
    cov = np.cov(y, rowvar=False) if len(y) > 1 else np.eye(cout)
    evals, evecs = np.linalg.eigh(cov)
    basis_all = evecs[:, ::-1]
    for r in rank_grid(cout, chans, lambda r, m=m: m.macs(layer, r), limit):
        core, core_bias, post, post_bias = channel_factors(layer.weight, b, basis_all[:, :r], mean)
        out.append(Candidate("channel", r, {"g": core.reshape(r, -1), "g_bias": core_bias, "core": core},
                             post, post_bias if post_bias is not None else np.zeros(cout),
                             m.macs(layer, r), m.params(layer, r)))
    return out


def effective_weight(cand: Candidate, cin: int, kernel: tuple[int, ...]) -> np.ndarray:
    """The single Conv weight the pair computes (``L G``), for the report's weight error."""
    k = cin * prod(kernel)
    return (features(cand, np.eye(k)) - (features(cand, np.zeros((1, k))))) @ cand.last.T


def weight_rel_error(cand: Candidate, w: np.ndarray) -> float:
    cout = w.shape[0]
    eff = effective_weight(cand, w.shape[1], tuple(w.shape[2:])).T
    ref = w.reshape(cout, -1)
    return float(np.linalg.norm(eff - ref) / (np.linalg.norm(ref) or 1.0))


def emit(cand: Candidate, layer: ConvLayer, namer: Namer) -> Emitted:
    """The nodes that compute the candidate in place of the layer (with its current last factor)."""
    assert layer.weight is not None
    cout = layer.cout
    bias = cand.bias.astype(layer.weight.dtype)
    lay = dataclasses.replace(layer, bias=bias)
    if cand.kind == "spatial":
        v = cand.parts["v"]
        cin, kh, r = v.shape
        h = cand.last.reshape(cout, r, -1).transpose(1, 0, 2).reshape(r, -1)
        fact = Factorization(v.reshape(1, cin * kh, r), np.ones((1, r)), h[None])
        return CANDIDATE_METHODS["spatial"].emit(lay, fact, r, namer)
    if cand.kind == "depthwise":
        d = cand.parts["d"]
        cin, m, _ = d.shape
        u = cand.last.reshape(cout, cin, m).transpose(1, 0, 2)
        return CANDIDATE_METHODS["depthwise"].emit(lay, Factorization(u, np.ones((cin, m)), d), m, namer)
    pre = cand.parts.get("pre")
    core_bias = cand.parts.get("g_bias")
    return emit_chain(lay, namer, pre, cand.parts["core"], core_bias, cand.last, bias, cand.kind)
