"""Property tests: random Conv layers, both methods at full rank, in ONNX Runtime; and the
factor algebra of both methods in plain numpy."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_builders import (
    assert_close,
    assert_model_hygiene,
    conv_model,
    copy_model,
    metadata,
    random_weight,
    run,
)
from sepconv.converter import ConvertOptions, convert_model
from sepconv.converter.methods import depthwise_factors, depthwise_svd, spatial_factors, spatial_svd

SETTINGS = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class ConvSpec:
    batch: int
    cin_g: int
    cout_g: int
    group: int
    kernel: tuple[int, ...]
    spatial: tuple[int, ...]
    pads: tuple[int, ...] | None
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    auto_pad: str | None
    bias: bool
    dtype: type
    seed: int


@st.composite
def conv_specs(draw: st.DrawFn, dims: tuple[int, ...] = (1, 2, 3)) -> ConvSpec:
    nd = draw(st.sampled_from(dims))
    group = draw(st.sampled_from([1, 1, 2, 3]))
    cin_g = draw(st.integers(1, 3))
    cout_g = draw(st.integers(1, 4))
    max_k = 3 if nd < 3 else 2
    if nd == 2 and draw(st.booleans()):
        kernel: tuple[int, ...] = draw(st.sampled_from([(3, 2), (2, 3), (3, 1), (1, 3), (1, 1), (5, 3)]))
    else:
        kernel = tuple(draw(st.integers(1, max_k)) for _ in range(nd))
    strides = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    auto_pad = draw(st.sampled_from([None, "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    # onnxruntime refuses dilations with SAME_* (the original would not run); the converter's own
    # resolution of SAME with dilation is covered in test_graph_cases against explicit pads
    dilations = tuple(draw(st.integers(1, 2)) if auto_pad not in ("SAME_UPPER", "SAME_LOWER") else 1
                      for _ in range(nd))
    pads = None
    if auto_pad in (None, "NOTSET"):
        pads = tuple(draw(st.integers(0, k - 1)) if k > 1 else 0 for k in kernel * 2)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    extra = 3 if nd < 3 else 1
    spatial = tuple(e + draw(st.integers(0, extra)) for e in eff)
    return ConvSpec(
        batch=draw(st.integers(1, 2)), cin_g=cin_g, cout_g=cout_g, group=group, kernel=kernel, spatial=spatial,
        pads=pads, strides=strides, dilations=dilations, auto_pad=auto_pad, bias=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float32, np.float16])), seed=draw(st.integers(0, 2**16)),
    )


def build(spec: ConvSpec) -> tuple:
    rng = np.random.default_rng(spec.seed)
    cin, cout = spec.cin_g * spec.group, spec.cout_g * spec.group
    w = random_weight(rng, (cout, spec.cin_g, *spec.kernel), spec.dtype)
    b = rng.standard_normal(cout).astype(spec.dtype) if spec.bias else None
    model = conv_model((spec.batch, cin, *spec.spatial), w, b, pads=spec.pads, strides=spec.strides,
                       dilations=spec.dilations, group=spec.group, auto_pad=spec.auto_pad, name="layer/conv")
    x = rng.standard_normal((spec.batch, cin, *spec.spatial)).astype(spec.dtype)
    return model, {"x": x}


def must_rewrite(method: str, spec: ConvSpec) -> bool:
    """Whether the converter must take this Conv (forced, full rank) or skip it with a reason."""
    if all(k == 1 for k in spec.kernel) or (spec.cin_g == 1 and spec.group > 1):
        return False  # nothing to factorize / already depthwise
    if method == "spatial":
        return len(spec.kernel) >= 2 and spec.kernel[0] > 1 and prod(spec.kernel[1:]) > 1
    return True


def check_full_rank(method: str, spec: ConvSpec) -> None:
    model, feeds = build(spec)
    original = copy_model(model)
    expected = run(original, feeds)[0]
    rows = convert_model(model, ConvertOptions(method=method, rank="full", force=True, verify=False))
    (row,) = rows
    want = must_rewrite(method, spec)
    assert row["status"] == ("rewritten" if want else "skipped"), row["reason"]
    if want:
        assert row["rank"] == row["full_rank"]
        assert row["new_nodes"] and all(row["name"] in n for n in row["new_nodes"])
    else:
        assert row["reason"]
    got = run(model, feeds)[0]
    assert got.dtype == expected.dtype == spec.dtype
    if spec.dtype == np.float16:
        assert_close(got, expected, rtol=2e-2, atol=2e-2, what=f"{method} fp16 {spec}")
    else:
        assert_close(got, expected, rtol=1e-4, atol=1e-4, what=f"{method} {spec}")
    assert_model_hygiene(original, model)
    for t in model.graph.initializer:
        assert t.data_type == original.graph.initializer[0].data_type, "weights changed dtype"
    meta = metadata(model)
    assert '"method": "' + method + '"' in meta["sepconv.options"]


@SETTINGS
@given(conv_specs())
def test_depthwise_full_rank_matches(spec: ConvSpec) -> None:
    check_full_rank("depthwise", spec)


@SETTINGS
@given(conv_specs(dims=(2, 2, 3)))
def test_spatial_full_rank_matches(spec: ConvSpec) -> None:
    check_full_rank("spatial", spec)


# ----- pure numpy ----------------------------------------------------------------------------
def rebuild_depthwise(d: np.ndarray, p: np.ndarray, weight_shape: tuple[int, ...], group: int, m: int) -> np.ndarray:
    cout, cin_g, *k = weight_shape
    cout_g = cout // group
    w = np.zeros(weight_shape)
    for o in range(cout):
        gi = o // cout_g
        for c in range(cin_g):
            for j in range(m):
                w[o, c] += p[o, c * m + j].reshape(()) * d[(gi * cin_g + c) * m + j, 0]
    return w


def rebuild_spatial(v: np.ndarray, h: np.ndarray, weight_shape: tuple[int, ...], group: int, r: int) -> np.ndarray:
    cout, cin_g, k0, *rest = weight_shape
    cout_g = cout // group
    w = np.zeros(weight_shape)
    for o in range(cout):
        gi = o // cout_g
        for j in range(r):
            # v[gi*r + j, c, y, 1...] * h[o, j, 1, rest...]
            w[o] += v[gi * r + j] * h[o, j]
    return w


# a weight (Cout, Cin/group, *kernel), then a group count dividing Cout (Cin = Cin/group * group)
weights = st.builds(
    lambda group, cin_g, cout_g, kernel, seed: np.random.default_rng(seed).standard_normal(
        (cout_g * group, cin_g, *kernel)),
    st.sampled_from([1, 2, 3]), st.integers(1, 4), st.integers(1, 5),
    st.one_of(st.tuples(st.integers(1, 4)), st.tuples(st.integers(2, 4), st.integers(2, 4)),
              st.tuples(st.integers(2, 3), st.integers(1, 3), st.integers(1, 3))),
    st.integers(0, 2**16),
).flatmap(lambda w: st.tuples(st.just(w), st.sampled_from([g for g in (1, 2, 3) if w.shape[0] % g == 0]),
                              st.integers(0, 2**16)))


@settings(max_examples=40, deadline=None, database=None)
@given(weights)
def test_depthwise_factors_rebuild_weight(drawn: tuple[np.ndarray, int, int]) -> None:
    w, group, seed = drawn
    fact = depthwise_svd(w, group)
    m = fact.full_rank
    assert m == min(w.shape[0] // group, prod(w.shape[2:]))
    d, p = depthwise_factors(fact, w.shape, group, m)
    assert d.shape == (w.shape[1] * group * m, 1, *w.shape[2:])
    assert p.shape == (w.shape[0], w.shape[1] * m, *([1] * (w.ndim - 2)))
    np.testing.assert_allclose(rebuild_depthwise(d, p, w.shape, group, m), w, atol=1e-10)
    # truncated: the reported relative error is the Frobenius error of the reconstruction
    r = int(np.random.default_rng(seed).integers(1, m + 1))
    d_r, p_r = depthwise_factors(fact, w.shape, group, r)
    direct = np.linalg.norm(w - rebuild_depthwise(d_r, p_r, w.shape, group, r)) / np.linalg.norm(w)
    assert fact.rel_error(r) == pytest.approx(direct, rel=1e-6, abs=1e-7)


@settings(max_examples=40, deadline=None, database=None)
@given(weights.filter(lambda t: t[0].ndim >= 4))
def test_spatial_factors_rebuild_weight(drawn: tuple[np.ndarray, int, int]) -> None:
    w, group, seed = drawn
    fact = spatial_svd(w, group)
    r_full = fact.full_rank
    cout, cin_g, k0, *rest = w.shape
    assert r_full == min(cin_g * k0, cout // group * prod(rest))
    v, h = spatial_factors(fact, w.shape, group, r_full)
    assert v.shape == (group * r_full, cin_g, k0, *([1] * len(rest)))
    assert h.shape == (cout, r_full, 1, *rest)
    np.testing.assert_allclose(rebuild_spatial(v, h, w.shape, group, r_full), w, atol=1e-10)
    r = int(np.random.default_rng(seed).integers(1, r_full + 1))
    v_r, h_r = spatial_factors(fact, w.shape, group, r)
    direct = np.linalg.norm(w - rebuild_spatial(v_r, h_r, w.shape, group, r)) / np.linalg.norm(w)
    assert fact.rel_error(r) == pytest.approx(direct, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("method", ["depthwise", "spatial"])
def test_reported_weight_error_is_frobenius_error(method: str) -> None:
    """The report row's weight_rel_error at a truncated rank equals ||W - W_r|| / ||W||, computed directly."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    model = conv_model((1, 4, 10, 10), w, name="c")
    (row,) = convert_model(model, ConvertOptions(method=method, rank=2, force=True, verify=False))
    assert row["status"] == "rewritten" and row["rank"] == 2
    w64 = w.astype(np.float64)
    if method == "depthwise":
        fact = depthwise_svd(w64)
        d, p = depthwise_factors(fact, w.shape, 1, 2)
        w_r = rebuild_depthwise(d, p, w.shape, 1, 2)
    else:
        fact = spatial_svd(w64)
        v, h = spatial_factors(fact, w.shape, 1, 2)
        w_r = rebuild_spatial(v, h, w.shape, 1, 2)
    direct = np.linalg.norm(w64 - w_r) / np.linalg.norm(w64)
    assert 0.0 < direct < 1.0
    assert row["weight_rel_error"] == pytest.approx(direct, rel=1e-5)
    assert row["energy_kept"] == pytest.approx(1.0 - direct**2, rel=1e-5)
