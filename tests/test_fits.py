"""Auto mode's fits: factors truncated in the space the data whitens beat plain ones on that data,
and a fit with few rows per unknown gets its ridge from held-out rows, and an honest error."""

from __future__ import annotations

import numpy as np
import pytest
from model_builders import conv_model
from sepconv.converter import analyse
from sepconv.converter.auto import candidates, fitting
from sepconv.converter.auto.refit import RIDGE, RIDGE_GRID, choose_ridge, fit, in_fold, refit, solve_last


def _layer(shape: tuple[int, ...] = (16, 16, 3, 3), spatial: tuple[int, int] = (12, 12), seed: int = 0,
           pads: tuple[int, ...] | None = (1, 1, 1, 1)):
    """One Conv of a seeded random weight, analysed (padded 3x3 by default)."""
    w = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    _, (layer,) = analyse(conv_model([1, shape[1], *spatial], w, pads=pads), {})
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


def test_an_error_judged_on_held_rows_is_honest_for_factors_taken_from_the_data():
    """One output position per sample (a squeeze-and-excitation layer's shape), 24 samples, 64
    channels: a channel basis built from all 24 rows spans every row's outputs, so rows held out of
    the ridge's fit read no error at all. Built from the fitted rows only, and fit on those rows
    only (refit on all 24 rows, a rank-24 factor has as many unknowns as rows: 0.80 on the held
    rows, 1.62 on new inputs), the candidate's reported error is of the size it shows on new inputs."""
    layer = _layer((64, 16, 3, 3), (3, 3), seed=10, pads=None)
    rng = np.random.default_rng(11)
    x, fresh = rng.standard_normal((24, 16 * 9)), rng.standard_normal((4000, 16 * 9))
    y, y_fresh = candidates.outputs(layer, x), candidates.outputs(layer, fresh)
    scale = float(np.linalg.norm(y - y.mean(0)))
    channel = [c for c in fitting.refit_all(candidates.build(layer, x, y), x, y, scale) if c.kind == "channel"]
    assert any(c.rank >= 24 for c in channel)  # ranks that span all the rows
    for c in channel:
        assert c.error > 0.5 * _error(c, fresh, y_fresh), (c.variant, c.error, _error(c, fresh, y_fresh))


@pytest.mark.parametrize(("rows", "held_back"), [(40, True), (150, False)])  # 24 unknowns: under and over 2 per unknown
def test_a_fit_near_the_interpolation_peak_leaves_its_judging_rows_out(rows, held_back):
    """A candidate whose ridge was chosen on held rows is fit without them below 2 rows per unknown
    (then and in later refits): changing those rows' targets leaves its factor as it was. With more
    rows all of them fit it."""
    layer = _layer()
    x = np.random.default_rng(12).standard_normal((rows, 16 * 9))
    y = candidates.outputs(layer, x)
    c = next(c for c in candidates.build(layer, x, y) if c.variant == "spatial:r8" and not c.extra.get("whitened"))
    fitted, held = fit(c, x, y)
    assert held is not None and fitted.extra["held_ridge"]
    fitted.extra["ridge"] = 1e-3  # whatever the grid chose (inf would keep the prior on any rows)
    other = y.copy()
    other[in_fold(rows):] += 5.0 * np.random.default_rng(13).standard_normal(other[in_fold(rows):].shape)
    again = refit(fitted, x, other)
    assert np.allclose(again.last, refit(fitted, x, y).last) is held_back


def test_fit_flags_only_ill_posed_candidates():
    layer = _layer()
    rng = np.random.default_rng(4)
    many = rng.standard_normal((4000, 16 * 9))
    few = many[:150]
    c = next(c for c in candidates.build(layer, many, candidates.outputs(layer, many)) if c.variant == "spatial:r8")
    _, held = fit(c, many, candidates.outputs(layer, many))  # 4000 rows for 24 unknowns: trusted
    assert held is None and "ridge" not in c.extra
    _, held = fit(c, few, candidates.outputs(layer, few))  # 150 rows for 24 unknowns: checked on held rows
    assert held is not None and c.extra["ridge"] in RIDGE_GRID



def test_a_weak_fit_falls_back_on_the_weights_factor():
    """96 features, 160 noisy rows, and a prior (the factor from the weights) that is nearly right:
    the ridge pulls towards the prior, so the chosen fit holds out about as well as the prior itself,
    where the same grid pulling towards zero (the old fit) is far worse on the held-out rows."""
    rng = np.random.default_rng(5)
    f = rng.standard_normal((160, 96))
    true = rng.standard_normal((24, 96))
    prior = true + 0.05 * rng.standard_normal(true.shape)
    y = f @ true.T + 3.0 * rng.standard_normal((160, 24))
    cut = 120
    prior_held = np.linalg.norm(f[cut:] @ prior.T - y[cut:]) / np.linalg.norm(y[cut:] - y[cut:].mean(0))
    _, towards_zero = choose_ridge(f, y)
    ridge, held = choose_ridge(f, y, prior)
    assert held <= prior_held * 1.05 and held < 0.8 * towards_zero, (held, prior_held, towards_zero)
    last, bias = solve_last(f, y, float("inf"), prior)
    assert np.array_equal(last, prior) and np.allclose(bias, y.mean(0) - prior @ f.mean(0))


def test_weight_error_of_a_layer_with_huge_patches_is_estimated_in_bounded_memory():
    """1024 channels x 64 taps = 65536 values per patch: the exact probe (an identity of 65536^2, 32 GiB)
    is out of reach; the estimate lands within 5% of the channel pair's closed form ||(I - P P^T) W||."""
    layer = _layer((16, 1024, 64, 1), (80, 1), seed=6, pads=None)  # a k x 1 Conv, as CREPE's
    x = np.random.default_rng(7).standard_normal((64, 1024 * 64))
    w = layer.weight.astype(np.float64).reshape(16, -1)
    cands = [c for c in candidates.build(layer, x, candidates.outputs(layer, x)) if c.kind == "channel"]
    assert cands
    for c in cands:
        p = c.last  # the orthonormal basis, before any refit
        want = np.linalg.norm(w - p @ (p.T @ w)) / np.linalg.norm(w)
        assert candidates.weight_rel_error(c, layer.weight) == pytest.approx(want, rel=0.05)


def test_weight_error_probed_exactly_and_estimated_agree(monkeypatch):
    layer = _layer()
    x = np.random.default_rng(8).standard_normal((400, 16 * 9))
    for c in candidates.build(layer, x, candidates.outputs(layer, x)):
        exact = candidates.weight_rel_error(c, layer.weight)
        monkeypatch.setattr(candidates, "EXACT_WEIGHT_ERROR_UP_TO", 8)
        assert candidates.weight_rel_error(c, layer.weight) == pytest.approx(exact, rel=0.1)
        monkeypatch.undo()


def test_the_ridge_towards_a_prior_solves_its_least_squares_problem():
    """``solve_last`` with a prior is the least-squares fit of the rows stacked on ``sqrt(damp) (L - prior)``;
    as the ridge grows it tends to the prior; ``choose_ridge``'s fast solve agrees with it."""
    rng = np.random.default_rng(9)
    f = rng.standard_normal((200, 12))
    y = f @ rng.standard_normal((3, 12)).T + 0.5 * rng.standard_normal((200, 3))
    prior = rng.standard_normal((3, 12))
    fc, yc = f - f.mean(0), y - y.mean(0)
    for ridge in (1e-2, 1.0):
        damp = ridge * np.trace(fc.T @ fc) / 12 + 1e-12
        stacked = np.vstack([fc, np.sqrt(damp) * np.eye(12)])
        want = np.linalg.lstsq(stacked, np.vstack([yc, np.sqrt(damp) * prior.T]), rcond=None)[0].T
        last, bias = solve_last(f, y, ridge, prior)
        np.testing.assert_allclose(last, want, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(bias, y.mean(0) - want @ f.mean(0), rtol=1e-8, atol=1e-10)
    far, _ = solve_last(f, y, 1e6, prior)
    assert np.abs(far - prior).max() < 1e-4
    chosen, held = choose_ridge(f, y, prior)
    last, bias = solve_last(f[:150], y[:150], chosen, prior)
    direct = np.linalg.norm(f[150:] @ last.T + bias - y[150:]) / np.linalg.norm(y[150:] - y[150:].mean(0))
    assert held == pytest.approx(direct, rel=1e-3)
