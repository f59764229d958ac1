"""Spatially separable pair (Jaderberg scheme 2): the numpy factorization alone, in float64, no ONNX.

Weights are built with a known spectrum of ``M_g[(c, y), (o, rest)] = W[g*Cout/group + o, c, y, rest]``,
so the error expected at every rank is known in advance, whatever the seed.
"""

from __future__ import annotations

from math import prod

import numpy as np
import pytest
from sepconv.converter.methods.spatial import spatial_factors, spatial_svd


def orthonormal(rng: np.random.Generator, n: int, q: int) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((n, q)))[0]


def with_spectrum(shape: tuple[int, ...], spectra: list[np.ndarray], seed: int = 0) -> np.ndarray:
    """A weight whose group g's matrix M_g has the singular values spectra[g]."""
    rng = np.random.default_rng(seed)
    cout, cin_g, k0, *rest = shape
    cout_g = cout // len(spectra)
    blocks = []
    for s in spectra:
        m = orthonormal(rng, cin_g * k0, len(s)) @ np.diag(s) @ orthonormal(rng, cout_g * prod(rest), len(s)).T
        blocks.append(m.reshape(cin_g, k0, cout_g, *rest))
    return np.moveaxis(np.stack(blocks), 3, 1).reshape(shape)  # (g, c, y, o, rest) -> (g, o, c, y, rest)


def rebuild(v: np.ndarray, h: np.ndarray, group: int) -> np.ndarray:
    """W[o, c, y, rest] = sum_t V[t, c, y] H[o, t, rest], group by group."""
    r = v.shape[0] // group
    cout, _, _, *rest = h.shape
    w = np.einsum("gtcy,got...->gocy...", v.reshape(group, r, *v.shape[1:3]), h.reshape(group, cout // group, r, *rest))
    return w.reshape(cout, *w.shape[2:])


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


CASES = [  # (shape, group): 2-D, grouped, 3-D (first axis split from the other two)
    ((6, 4, 3, 3), 1),
    ((6, 2, 3, 3), 2),
    ((4, 2, 3, 2, 2), 1),
]


@pytest.mark.parametrize(("shape", "group"), CASES + [((256, 3, 5, 5), 1)])
def test_full_rank_is_exact(shape, group):
    w = np.random.default_rng(1).standard_normal(shape)
    fact = spatial_svd(w, group)
    cout, cin_g, k0, *rest = shape
    assert fact.full_rank == min(cin_g * k0, cout // group * prod(rest))
    v, h = spatial_factors(fact, shape, group, fact.full_rank)
    assert v.shape == (group * fact.full_rank, cin_g, k0, *[1] * len(rest))
    assert h.shape == (cout, fact.full_rank, 1, *rest)
    assert rel(rebuild(v, h, group), w) < 1e-12
    assert fact.rel_error(fact.full_rank) < 1e-7


@pytest.mark.parametrize(("shape", "group"), CASES)
def test_truncation_error_is_the_eckart_young_optimum(shape, group):
    q = spatial_svd(np.ones(shape), group).full_rank
    spectra = [(g + 1.0) * 0.7 ** np.arange(q) for g in range(group)]
    w = with_spectrum(shape, spectra)
    sq = np.array(spectra) ** 2
    expected = [np.sqrt(sq[:, r:].sum() / sq.sum()) for r in range(1, q + 1)]
    fact = spatial_svd(w, group)
    errors = [rel(rebuild(*spatial_factors(fact, shape, group, r), group), w) for r in range(1, q + 1)]
    np.testing.assert_allclose(errors[:-1], expected[:-1], rtol=1e-9)
    np.testing.assert_allclose([fact.rel_error(r) for r in range(1, q)], expected[:-1], rtol=1e-9)
    np.testing.assert_allclose(fact.energies(), 1.0 - np.square(expected), atol=1e-12)
    assert errors[-1] < 1e-12
    assert np.all(np.diff(errors) < -1e-3)  # strictly better with every rank


@pytest.mark.parametrize(("shape", "group"), [((256, 3, 5, 5), 1), ((6, 2, 3, 3), 2)])
def test_random_weight_error_matches_an_independent_svd(shape, group):
    w = np.random.default_rng(2).standard_normal(shape)
    cout, cin_g, k0, *rest = shape
    m = np.moveaxis(w.reshape(group, cout // group, cin_g * k0, -1), 1, 2).reshape(group, cin_g * k0, -1)
    s = np.linalg.svd(m, compute_uv=False)
    fact = spatial_svd(w, group)
    for r in (1, 2, s.shape[1] // 2):
        optimum = np.sqrt((s[:, r:] ** 2).sum()) / np.linalg.norm(w)
        assert optimum > 0.1
        assert rel(rebuild(*spatial_factors(fact, shape, group, r), group), w) == pytest.approx(optimum, rel=1e-9)
        assert fact.rel_error(r) == pytest.approx(optimum, rel=1e-9)


@pytest.mark.parametrize(("shape", "group"), CASES)
def test_weight_of_rank_r_is_exact_at_r(shape, group):
    q = spatial_svd(np.ones(shape), group).full_rank
    s = np.zeros(q)
    s[:3] = [1.0, 0.5, 0.25]  # a sum of 3 separable outer products per group
    w = with_spectrum(shape, [s] * group)
    fact = spatial_svd(w, group)
    assert rel(rebuild(*spatial_factors(fact, shape, group, 3), group), w) < 1e-12
    assert fact.rel_error(3) < 1e-6
    assert rel(rebuild(*spatial_factors(fact, shape, group, 2), group), w) == pytest.approx(0.25 / np.sqrt(1.3125))


def test_seed_example_separable_3x3_kernel():
    """The seed's 3x3 single-channel kernel: a Sobel kernel is one outer product, so rank 1 is exact."""
    w = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0]).reshape(1, 1, 3, 3)
    fact = spatial_svd(w)
    assert fact.full_rank == 3
    v, h = spatial_factors(fact, w.shape, 1, 1)
    assert v.shape == (1, 1, 3, 1) and h.shape == (1, 1, 1, 3)
    assert rel(rebuild(v, h, 1), w) < 1e-14
    np.testing.assert_allclose(v[0, 0, :, 0] / v[0, 0, 0, 0], [1.0, 2.0, 1.0], rtol=1e-12)
    assert fact.rel_error(1) < 1e-6 and fact.s[0, 1] < 1e-14 * fact.s[0, 0]
