"""FID: zero against itself, growing with a shift, equal to a SciPy sqrtm reference."""

import numpy as np
import pytest
import scipy.linalg

from vaeglow_jax.evaluation.metrics import fid


def _scipy_fid(a, b):
  """The textbook formula with scipy.linalg.sqrtm (the reference implementations' way)."""
  mu_a, mu_b = a.mean(0), b.mean(0)
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  root = scipy.linalg.sqrtm(cov_a @ cov_b).real
  return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def test_fid_of_a_set_against_itself_is_zero():
  x = np.random.default_rng(0).normal(size=(1000, 32))
  assert fid.fid_from_features(x, x) < 1e-8


def test_fid_grows_with_the_shift():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
  values = [fid.fid_from_features(x, y + shift) for shift in (0.0, 0.5, 1.0, 2.0)]
  assert values[0] < 0.1
  assert all(a < b for a, b in zip(values, values[1:]))
  # A mean shift of s in every one of d dimensions adds about d * s^2.
  np.testing.assert_allclose(values[3] - values[0], 16 * 4.0, rtol=0.05)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_fid_matches_scipy_reference_on_random_features(seed):
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(600, 24)) @ rng.normal(size=(24, 24))
  b = rng.normal(size=(500, 24)) @ rng.normal(size=(24, 24)) * 0.7 + rng.normal(size=24)
  np.testing.assert_allclose(fid.fid_from_features(a, b), _scipy_fid(a, b), rtol=1e-6)


def test_fid_is_finite_and_nonnegative_for_rank_deficient_features():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(50, 5)) @ rng.normal(size=(5, 64))  # rank 5 in 64 dimensions
  b = rng.normal(size=(50, 5)) @ rng.normal(size=(5, 64))
  value = fid.fid_from_features(a, b)
  assert np.isfinite(value) and value >= 0
  assert fid.fid_from_features(a, a) < 1e-6


def test_fid_rejects_mismatched_features():
  with pytest.raises(ValueError, match='feature sizes differ'):
    fid.fid_from_features(np.zeros((4, 3)) + np.arange(3), np.ones((4, 2)) * np.arange(2))
  with pytest.raises(ValueError, match='n >= 2'):
    fid.feature_stats(np.zeros((1, 3)))
