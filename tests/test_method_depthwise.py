"""Depthwise + pointwise from per-input-channel SVDs: the numpy factorization alone, in float64, no ONNX.

Weights are built with a known spectrum of every ``M_i = W[group's outputs, i]`` (Cout/group x prod(kernel)),
so the error expected at every depth multiplier is known in advance, whatever the seed.
"""

from __future__ import annotations

from math import prod

import numpy as np
import pytest
from sepconv.converter.methods.depthwise import depthwise_factors, depthwise_svd


def with_spectrum(shape: tuple[int, ...], group: int, spectra: np.ndarray, seed: int = 0) -> np.ndarray:
    """A weight whose input channel i (of all Cin) has the singular values spectra[i]."""
    rng = np.random.default_rng(seed)
    cout, cin_g, *k = shape
    cout_g, q = cout // group, spectra.shape[1]
    w = np.zeros(shape)
    for i, s in enumerate(spectra):
        g, c = divmod(i, cin_g)
        u = np.linalg.qr(rng.standard_normal((cout_g, q)))[0]
        v = np.linalg.qr(rng.standard_normal((prod(k), q)))[0]
        w[g * cout_g:(g + 1) * cout_g, c] = (u @ np.diag(s) @ v.T).reshape(cout_g, *k)
    return w


def rebuild(d: np.ndarray, p: np.ndarray, group: int, m: int) -> np.ndarray:
    """W[o, c, kernel] = sum_j P[o, c*m + j] D[i*m + j, kernel], with i the input channel c of o's group."""
    cout, cin_g = p.shape[0], p.shape[1] // m
    w = np.einsum("gcjk,gocj->gock", d.reshape(group, cin_g, m, -1), p.reshape(group, cout // group, cin_g, m))
    return w.reshape(cout, cin_g, *d.shape[2:])


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


CASES = [  # (shape, group): 1-D, 2-D, grouped 2-D, 3-D
    ((6, 3, 5), 1),
    ((6, 4, 3, 3), 1),
    ((6, 2, 3, 3), 2),
    ((4, 2, 2, 2, 2), 1),
]


@pytest.mark.parametrize(("shape", "group"), CASES + [((256, 3, 5, 5), 1)])
def test_full_rank_is_exact(shape, group):
    w = np.random.default_rng(1).standard_normal(shape)
    fact = depthwise_svd(w, group)
    cout, cin_g, *k = shape
    m = fact.full_rank
    assert m == min(cout // group, prod(k))
    d, p = depthwise_factors(fact, shape, group, m)
    assert d.shape == (cin_g * group * m, 1, *k) and p.shape == (cout, cin_g * m, *[1] * len(k))
    assert rel(rebuild(d, p, group, m), w) < 1e-12
    assert fact.rel_error(m) < 1e-7


@pytest.mark.parametrize(("shape", "group"), CASES)
def test_truncation_error_is_the_eckart_young_optimum(shape, group):
    cin = shape[1] * group
    q = min(shape[0] // group, prod(shape[2:]))
    spectra = np.array([(i + 1.0) * 0.6 ** np.arange(q) for i in range(cin)])
    w = with_spectrum(shape, group, spectra)
    sq = spectra**2
    expected = [np.sqrt(sq[:, m:].sum() / sq.sum()) for m in range(1, q + 1)]
    fact = depthwise_svd(w, group)
    errors = [rel(rebuild(*depthwise_factors(fact, shape, group, m), group, m), w) for m in range(1, q + 1)]
    np.testing.assert_allclose(errors[:-1], expected[:-1], rtol=1e-9)
    np.testing.assert_allclose([fact.rel_error(m) for m in range(1, q)], expected[:-1], rtol=1e-9)
    np.testing.assert_allclose(fact.energies(), 1.0 - np.square(expected), atol=1e-12)
    assert errors[-1] < 1e-12
    assert np.all(np.diff(errors) < -1e-3)  # strictly better with every multiplier


@pytest.mark.parametrize(("shape", "group"), CASES)
def test_per_channel_rank_m_is_exact_at_m(shape, group):
    q = min(shape[0] // group, prod(shape[2:]))
    spectra = np.zeros((shape[1] * group, q))
    spectra[:, :2] = [1.0, 0.5]
    w = with_spectrum(shape, group, spectra)
    fact = depthwise_svd(w, group)
    assert rel(rebuild(*depthwise_factors(fact, shape, group, 2), group, 2), w) < 1e-12
    assert fact.rel_error(2) < 1e-6
    assert rel(rebuild(*depthwise_factors(fact, shape, group, 1), group, 1), w) == pytest.approx(0.5 / np.sqrt(1.25))


def test_seed_example_multiplier_one_matches_an_independent_svd():
    """The seed's 12x12x3 input, 5x5 kernel, 256 outputs: depthwise [3, 1, 5, 5] then pointwise [256, 3, 1, 1]."""
    w = np.random.default_rng(2).standard_normal((256, 3, 5, 5))
    fact = depthwise_svd(w)
    d, p = depthwise_factors(fact, w.shape, 1, 1)
    assert d.shape == (3, 1, 5, 5) and p.shape == (256, 3, 1, 1)
    s = np.linalg.svd(w.reshape(256, 3, 25).transpose(1, 0, 2), compute_uv=False)  # one 256 x 25 per channel
    for m in (1, 12):
        optimum = np.sqrt((s[:, m:] ** 2).sum()) / np.linalg.norm(w)
        assert optimum > 0.1
        assert rel(rebuild(*depthwise_factors(fact, w.shape, 1, m), 1, m), w) == pytest.approx(optimum, rel=1e-9)
        assert fact.rel_error(m) == pytest.approx(optimum, rel=1e-9)
