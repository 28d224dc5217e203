"""KID: the U-statistic and its jackknife against direct computation, unbiasedness, calibrated errors."""

import numpy as np
import pytest

from vaeglow_jax.evaluation.metrics import kid


def _kernel(a, b):
  return (a @ b.T / a.shape[1] + 1.0) ** 3


def _direct_mmd2(x, y):
  """The unbiased estimator written out on full kernel matrices (diagonals removed)."""
  kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
  n, m = len(x), len(y)
  return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
          - 2 * kxy.mean())


def test_estimate_and_jackknife_match_direct_leave_one_out():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(23, 5)), rng.normal(size=(17, 5)) + 0.3
  value, se = kid.kid(x, y, block=4)  # a block size that splits the rows unevenly
  np.testing.assert_allclose(value, _direct_mmd2(x, y), rtol=1e-10)
  leave_x = np.array([_direct_mmd2(np.delete(x, i, 0), y) for i in range(len(x))])
  leave_y = np.array([_direct_mmd2(x, np.delete(y, i, 0)) for i in range(len(y))])
  variance = ((len(x) - 1) / len(x) * ((leave_x - leave_x.mean()) ** 2).sum()
              + (len(y) - 1) / len(y) * ((leave_y - leave_y.mean()) ** 2).sum())
  np.testing.assert_allclose(se, np.sqrt(variance), rtol=1e-8)


def test_unbiased_for_equal_distributions_where_the_plug_in_estimate_is_not():
  rng = np.random.default_rng(1)
  values, biased = [], []
  for _ in range(300):
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    values.append(kid.kid(x, y)[0])
    biased.append(_kernel(x, x).mean() + _kernel(y, y).mean() - 2 * _kernel(x, y).mean())
  values = np.array(values)
  standard_error_of_mean = values.std() / np.sqrt(len(values))
  assert abs(values.mean()) < 3 * standard_error_of_mean
  assert np.mean(biased) > 10 * standard_error_of_mean  # the V-statistic's positive bias
  assert (values < 0).any()  # an unbiased estimate of 0 must go below it


def test_expected_value_does_not_depend_on_sample_count_and_errors_are_calibrated():
  rng = np.random.default_rng(2)

  def draws(n, repeats):
    out = np.array([kid.kid(rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) * 1.3 + 0.2)
                    for _ in range(repeats)])
    return out[:, 0], out[:, 1]

  small, small_se = draws(40, 300)
  large, large_se = draws(320, 60)
  # Same mean at 40 and 320 samples (FID would differ by its 1/n bias).
  tolerance = 3 * np.hypot(small.std() / np.sqrt(len(small)), large.std() / np.sqrt(len(large)))
  assert abs(small.mean() - large.mean()) < tolerance
  # The jackknife standard error predicts the spread across independent draws.
  for values, ses in ((small, small_se), (large, large_se)):
    assert 0.7 < np.median(ses) / values.std() < 1.4


def test_rejects_bad_shapes():
  with pytest.raises(ValueError, match='same d'):
    kid.kid(np.zeros((5, 3)), np.zeros((5, 2)))
  with pytest.raises(ValueError, match='at least 3 rows'):
    kid.kid(np.zeros((2, 3)), np.zeros((5, 3)))
