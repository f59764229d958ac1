"""Output-channel decomposition: the numpy factorization alone, in float64, no ONNX.

With ``P`` (Cout x r) an orthonormal basis, the pair computes ``P P^T (W x + b - mu) + mu``: the
kxk Conv ``P^T W`` (bias ``P^T b``), then the 1x1 Conv ``P`` (bias ``mu - P P^T mu``).
"""

from __future__ import annotations

import numpy as np
import pytest
from sepconv.converter.methods.channel import channel_factors, channel_svd


def orthonormal(rng: np.random.Generator, n: int, q: int) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((n, q)))[0]


def with_spectrum(shape: tuple[int, ...], s: np.ndarray, seed: int = 0) -> np.ndarray:
    """A weight whose matrix Cout x (Cin*k*k) has the singular values s."""
    rng = np.random.default_rng(seed)
    cout, rest = shape[0], int(np.prod(shape[1:]))
    return (orthonormal(rng, cout, len(s)) @ np.diag(s) @ orthonormal(rng, rest, len(s)).T).reshape(shape)


def rebuild(core: np.ndarray, post: np.ndarray) -> np.ndarray:
    return np.einsum("or,rc...->oc...", post, core)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


SHAPES = [(6, 4, 3, 3), (8, 3, 5), (5, 2, 2, 2, 2)]  # 2-D, 1-D, 3-D


@pytest.mark.parametrize("shape", SHAPES + [(256, 3, 5, 5)])
def test_projection_on_the_top_left_singular_vectors(shape):
    w = np.random.default_rng(1).standard_normal(shape)
    cout = shape[0]
    u, s, _ = np.linalg.svd(w.reshape(cout, -1), full_matrices=False)
    fact = channel_svd(w)
    assert fact.full_rank == min(cout, w[0].size)
    for r in (1, 2, fact.full_rank // 2):
        core, core_bias, post, post_bias = channel_factors(w, None, fact.u[0][:, :r])
        assert core.shape == (r, *shape[1:]) and post.shape == (cout, r)
        assert core_bias is None and post_bias is None
        p = u[:, :r]
        projected = (p @ (p.T @ w.reshape(cout, -1))).reshape(shape)
        assert rel(rebuild(core, post), projected) < 1e-10
        optimum = np.sqrt((s[r:] ** 2).sum() / (s**2).sum())
        assert optimum > 0.1
        assert rel(rebuild(core, post), w) == pytest.approx(optimum, rel=1e-9)
        assert fact.rel_error(r) == pytest.approx(optimum, rel=1e-9)


@pytest.mark.parametrize("shape", SHAPES)
def test_known_spectrum_error_at_every_rank(shape):
    q = min(shape[0], int(np.prod(shape[1:])))
    s = 0.7 ** np.arange(q)
    w = with_spectrum(shape, s)
    expected = [np.sqrt((s[r:] ** 2).sum() / (s**2).sum()) for r in range(1, q + 1)]
    fact = channel_svd(w)
    errors = [rel(rebuild(*channel_factors(w, None, fact.u[0][:, :r])[::2]), w) for r in range(1, q + 1)]
    np.testing.assert_allclose(errors[:-1], expected[:-1], rtol=1e-9)
    np.testing.assert_allclose([fact.rel_error(r) for r in range(1, q)], expected[:-1], rtol=1e-9)
    assert errors[-1] < 1e-12
    assert np.all(np.diff(errors) < -1e-3)


@pytest.mark.parametrize("shape", SHAPES)
def test_output_rank_r_weight_is_exact_at_r(shape):
    s = np.zeros(min(shape[0], int(np.prod(shape[1:]))))
    s[:2] = [1.0, 0.5]
    w = with_spectrum(shape, s)
    fact = channel_svd(w)
    assert rel(rebuild(*channel_factors(w, None, fact.u[0][:, :2])[::2]), w) < 1e-12
    assert rel(rebuild(*channel_factors(w, None, fact.u[0][:, :1])[::2]), w) == pytest.approx(0.5 / np.sqrt(1.25))


def test_biases_and_data_mean():
    """The pair applied to patches x: P P^T (W x + b - mu) + mu, and exact with the full basis."""
    rng = np.random.default_rng(2)
    w, b, mean = rng.standard_normal((6, 4, 3, 3)), rng.standard_normal(6), rng.standard_normal(6)
    x = rng.standard_normal((36, 10))  # 10 patches of Cin*k*k values
    y = w.reshape(6, -1) @ x + b[:, None]
    basis = orthonormal(rng, 6, 6)
    for r in (2, 6):
        core, core_bias, post, post_bias = channel_factors(w, b, basis[:, :r], mean)
        pp = basis[:, :r] @ basis[:, :r].T
        np.testing.assert_allclose(post_bias, mean - pp @ mean, atol=1e-12)
        np.testing.assert_allclose(core_bias, basis[:, :r].T @ b, atol=1e-12)
        pair = post @ (core.reshape(r, -1) @ x + core_bias[:, None]) + post_bias[:, None]
        np.testing.assert_allclose(pair, pp @ (y - mean[:, None]) + mean[:, None], atol=1e-10)
    assert rel(pair, y) < 1e-12 and np.abs(post_bias).max() < 1e-12  # r = Cout: exact, no mean correction
    assert rel(post @ (core.reshape(6, -1) @ x), w.reshape(6, -1) @ x) < 1e-12
