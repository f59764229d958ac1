"""Auto mode's fits: factors truncated in the space the data whitens beat plain ones on that data,
and a fit with few rows per unknown gets its ridge from held-out rows, and an honest error."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from sepconv.converter import analyse
from sepconv.converter.auto import candidates
from sepconv.converter.auto.refit import RIDGE, choose_ridge, fit, solve_last


def _layer(seed: int = 0):
    w = numpy_helper.from_array(np.random.default_rng(seed).standard_normal((16, 16, 3, 3)).astype(np.float32), "W")
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], name="conv", pads=[1, 1, 1, 1])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 12, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 12, 12])], [w])
    _, (layer,) = analyse(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), {})
    return layer


def _error(c, x, y) -> float:
    return candidates.layer_error(c, x, y, float(np.linalg.norm(y - y.mean(0))))


def test_whitened_factors_fit_correlated_inputs_better():
    """Smooth inputs (a 3x3 patch mostly one value) whose channels differ 30x in scale: at equal
    rank, the whitened spatial and depthwise factors (last factor refit on the same rows) leave
    clearly less output error than the plain ones."""
    layer = _layer()
    rng = np.random.default_rng(1)
    smooth = rng.standard_normal((4000, 16, 1)) + 0.1 * rng.standard_normal((4000, 16, 9))
    x = (smooth * np.geomspace(30.0, 1.0, 16)[None, :, None]).reshape(4000, -1)
    y = candidates.outputs(layer, x)
    by = {}
    for c in candidates.build(layer, x, y):
        last, bias = solve_last(c.features(x), y)
        by.setdefault(c.variant, {})[bool(c.extra.get("whitened"))] = _error(c.with_last(last, bias), x, y)
    for variant in ("spatial:r8", "depthwise:r1"):
        plain, white = by[variant][False], by[variant][True]
        assert white < 0.8 * plain, (variant, white, plain)


def test_few_rows_per_unknown_choose_a_ridge_on_held_out_rows():
    """48 features, 120 rows, noisy targets: the tiny default ridge fits noise; the chosen one holds
    out better, and that held-out error is what the candidate reports."""
    rng = np.random.default_rng(3)
    f = rng.standard_normal((120, 48))
    y = f[:, :4] @ rng.standard_normal((4, 8)) + 2.0 * rng.standard_normal((120, 8))
    ridge, held = choose_ridge(f, y)
    cut = 90
    last, bias = solve_last(f[:cut], y[:cut], RIDGE)
    tiny = np.linalg.norm(f[cut:] @ last.T + bias - y[cut:]) / np.linalg.norm(y[cut:] - y[cut:].mean(0))
    assert ridge > RIDGE and held < 0.9 * tiny


def test_fit_flags_only_ill_posed_candidates():
    layer = _layer()
    rng = np.random.default_rng(4)
    many = rng.standard_normal((4000, 16 * 9))
    few = many[:150]
    c = next(c for c in candidates.build(layer, many, candidates.outputs(layer, many)) if c.variant == "spatial:r8")
    _, held = fit(c, many, candidates.outputs(layer, many))  # 4000 rows for 24 unknowns: trusted
    assert held is None and "ridge" not in c.extra
    _, held = fit(c, few, candidates.outputs(layer, few))  # 150 rows for 24 unknowns: checked on held rows
    assert held is not None and c.extra["ridge"] in (1e-5, 1e-3, 1e-2, 1e-1, 1.0)

