"""Tucker-2 (HOSVD of the two channel modes): the numpy factorization alone, in float64, no ONNX.

The rebuilt weight is ``Po W Pi`` (Po, Pi: projections on the top-r left singular vectors of the
output and input unfoldings), so its error is checked against those two unfoldings' own SVDs.
"""

from __future__ import annotations

import numpy as np
import pytest
from sepconv.converter.methods.tucker2 import tucker2_factors, tucker2_svd


def orthonormal(rng: np.random.Generator, n: int, q: int) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((n, q)))[0]


def rebuild(pre: np.ndarray, core: np.ndarray, post: np.ndarray) -> np.ndarray:
    """W[o, c, kernel] = sum_ab post[o, a] core[a, b, kernel] pre[b, c]."""
    return np.einsum("oa,ab...,bc->oc...", post, core, pre)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def diagonal_tucker(shape: tuple[int, ...], sigma: np.ndarray, seed: int = 0) -> np.ndarray:
    """W[o, c] = sum_a sigma_a A[o, a] B[c, a] E[a]: both channel unfoldings have singular values sigma."""
    rng = np.random.default_rng(seed)
    cout, cin, *k = shape
    q = len(sigma)
    e = rng.standard_normal((q, *k))
    e /= np.linalg.norm(e.reshape(q, -1), axis=1).reshape(q, *[1] * len(k))
    return np.einsum("a,oa,ca,a...->oc...", sigma, orthonormal(rng, cout, q), orthonormal(rng, cin, q), e)


@pytest.mark.parametrize("shape", [(6, 6, 3, 3), (5, 5, 3), (4, 4, 2, 2, 2)])
def test_full_rank_is_exact_when_cin_equals_cout(shape):
    w = np.random.default_rng(1).standard_normal(shape)
    fact = tucker2_svd(w)
    r = fact.full_rank
    assert r == shape[0]
    pre, core, post = tucker2_factors(w, fact, r)
    assert pre.shape == (r, shape[1]) and core.shape == (r, r, *shape[2:]) and post.shape == (shape[0], r)
    assert rel(rebuild(pre, core, post), w) < 1e-10


@pytest.mark.parametrize("shape", [(8, 6, 3, 3), (6, 8, 3), (8, 8, 2, 2, 2)])
def test_tucker_rank_r_weight_is_exact_at_r(shape):
    rng = np.random.default_rng(3)
    r = 3
    g = rng.standard_normal((r, r, *shape[2:]))
    w = np.einsum("ab...,oa,cb->oc...", g, orthonormal(rng, shape[0], r), orthonormal(rng, shape[1], r))
    fact = tucker2_svd(w)
    assert rel(rebuild(*tucker2_factors(w, fact, r)), w) < 1e-9
    assert rel(rebuild(*tucker2_factors(w, fact, r - 1)), w) > 0.05


@pytest.mark.parametrize("shape", [(6, 6, 3, 3), (8, 5, 3, 3), (5, 8, 3)])
def test_truncation_of_a_known_spectrum(shape):
    q = min(shape[:2])
    sigma = 0.7 ** np.arange(q)
    w = diagonal_tucker(shape, sigma)
    fact = tucker2_svd(w)
    expected = [np.sqrt((sigma[r:] ** 2).sum() / (sigma**2).sum()) for r in range(1, q + 1)]
    errors = [rel(rebuild(*tucker2_factors(w, fact, r)), w) for r in range(1, q + 1)]
    np.testing.assert_allclose(errors[:-1], expected[:-1], rtol=1e-8)
    np.testing.assert_allclose([fact.rel_error(r) for r in range(1, q)], expected[:-1], rtol=1e-8)
    assert errors[-1] < 1e-10
    assert np.all(np.diff(errors) < -1e-3)


@pytest.mark.parametrize("shape", [(8, 8, 3, 3), (8, 5, 3, 3), (5, 8, 3)])
def test_factors_are_the_hosvd_projections(shape):
    """Orthonormal factors spanning the top-r subspaces of both unfoldings, and the core is post^T W pre^T."""
    w = np.random.default_rng(4).standard_normal(shape)
    cout, cin = shape[:2]
    s_out = np.linalg.svd(w.reshape(cout, -1), compute_uv=False)
    s_in = np.linalg.svd(np.moveaxis(w, 1, 0).reshape(cin, -1), compute_uv=False)
    fact = tucker2_svd(w)
    previous = np.inf
    for r in range(1, min(cout, cin) + 1):
        pre, core, post = tucker2_factors(w, fact, r)
        np.testing.assert_allclose(pre @ pre.T, np.eye(r), atol=1e-12)
        np.testing.assert_allclose(post.T @ post, np.eye(r), atol=1e-12)
        np.testing.assert_allclose(core, np.einsum("oa,oc...,bc->ab...", post, w, pre), atol=1e-12)
        # Ky Fan: the projections keep the largest possible energy of each unfolding
        assert np.linalg.norm(post.T @ w.reshape(cout, -1)) ** 2 == pytest.approx((s_out[:r] ** 2).sum(), rel=1e-9)
        kept_in = np.linalg.norm(pre @ np.moveaxis(w, 1, 0).reshape(cin, -1)) ** 2
        assert kept_in == pytest.approx((s_in[:r] ** 2).sum(), rel=1e-9)
        error = rel(rebuild(pre, core, post), w)
        assert error ** 2 == pytest.approx(1 - np.linalg.norm(core) ** 2 / np.linalg.norm(w) ** 2, rel=1e-9, abs=1e-12)
        assert error <= previous + 1e-12
        previous = error


@pytest.mark.parametrize("shape", [(8, 4, 3, 3), (4, 8, 3, 3), (6, 6, 3, 3)])
def test_rel_error_is_the_weight_error(shape):
    w = np.random.default_rng(5).standard_normal(shape)
    fact = tucker2_svd(w)
    for r in range(1, min(shape[:2]) + 1):
        assert fact.rel_error(r) == pytest.approx(rel(rebuild(*tucker2_factors(w, fact, r)), w), rel=1e-6, abs=1e-6)
