"""evaluation.gain_decomposition against log-densities summed directly (scipy), a numeric
search over scales, and the property that a pure rescale explains nothing."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from vaeglow_jax.evaluation import gain_decomposition as gd

D = 4000


def _data(seed=0, offset=0.0, sigma_scale=1.0):
  """x = mu + offset + sigma_true * eps with a decoder sigma; (x, mu, sigma)."""
  rng = np.random.default_rng(seed)
  mu = rng.uniform(0.0, 1.0, D)
  sigma = rng.uniform(0.05, 0.2, D)
  x = mu + offset * sigma + sigma_scale * sigma * rng.standard_normal(D)
  return x, mu, sigma


def _direct_gain_bpd(x, f_x, logdet_total, mu, sigma):
  """Mean over dims of [log N(f(x); mu, sigma) + log|det|/D] - log N(x; mu, sigma), bits."""
  before = stats.norm.logpdf(x, mu, sigma).mean()
  after = stats.norm.logpdf(f_x, mu, sigma).mean() + logdet_total / D
  return (after - before) / math.log(2)


def _means(x, f_x, mu, sigma):
  return float(np.mean(((x - mu) / sigma) ** 2)), float(np.mean(((f_x - mu) / sigma) ** 2))


@pytest.mark.parametrize('scale', [0.3, 0.8, 1.0, 1.7])
def test_a_pure_rescale_about_the_mean_explains_nothing_and_gains_at_most_the_best_rescale(scale):
  x, mu, sigma = _data(sigma_scale=1.3)
  f_x = mu + scale * (x - mu)
  m, m_f = _means(x, f_x, mu, sigma)
  parts = gd.decompose(m, m_f, math.log(scale))
  assert parts['explained_bpd'] == pytest.approx(0.0, abs=1e-12)
  assert parts['residual_removed_rescaled'] == pytest.approx(0.0, abs=1e-12)
  assert parts['gain_bpd'] == pytest.approx(_direct_gain_bpd(x, f_x, D * math.log(scale), mu, sigma),
                                            abs=1e-9)
  assert parts['gain_bpd'] <= parts['best_rescale_bpd'] + 1e-12
  assert parts['scale_mismatch_bpd'] <= 1e-12


def test_the_best_rescale_is_the_best_factor_on_sigma_found_by_search():
  x, mu, sigma = _data(sigma_scale=1.4)
  m, _ = _means(x, x, mu, sigma)

  def loss(log_c):
    return -stats.norm.logpdf(x, mu, np.exp(log_c) * sigma).mean()

  best = optimize.minimize_scalar(loss, bounds=(-2, 2), method='bounded', options={'xatol': 1e-10})
  found = (loss(0.0) - best.fun) / math.log(2)
  assert gd.best_rescale_gain(m) == pytest.approx(found, rel=1e-6)
  assert math.exp(best.x) ** 2 == pytest.approx(m, rel=1e-4)
  assert gd.best_rescale_gain(1.0) == 0.0  # a calibrated decoder: nothing to gain


def test_a_volume_preserving_shift_that_removes_an_offset_is_all_explained():
  x, mu, sigma = _data(offset=0.8)
  f_x = x - 0.8 * sigma  # the residual's offset taken away; log|det| = 0
  m, m_f = _means(x, f_x, mu, sigma)
  parts = gd.decompose(m, m_f, 0.0)
  assert parts['gain_bpd'] == pytest.approx(_direct_gain_bpd(x, f_x, 0.0, mu, sigma), abs=1e-9)
  assert parts['residual_removed_rescaled'] == pytest.approx(1 - m_f / m)
  assert parts['explained_bpd'] > 0.2
  # every part adds up, and the mismatch is what the best scale for f's residual would add
  assert sum(parts[k] for k in ('best_rescale_bpd', 'explained_bpd', 'scale_mismatch_bpd')) == \
      pytest.approx(parts['gain_bpd'])
  best_scaled = max(_direct_gain_bpd(x, mu + s * (f_x - mu), D * math.log(s), mu, sigma)
                    for s in np.linspace(0.5, 1.5, 20001))
  assert best_scaled == pytest.approx(parts['best_rescale_bpd'] + parts['explained_bpd'], abs=1e-6)


def test_the_log_determinant_is_recovered_from_the_total_gain():
  x, mu, sigma = _data(offset=0.5, sigma_scale=0.9)
  f_x = mu + 0.7 * (x - 0.5 * sigma - mu)
  logdet = math.log(0.7)
  m, m_f = _means(x, f_x, mu, sigma)
  total = _direct_gain_bpd(x, f_x, D * logdet, mu, sigma)
  assert gd.logdet_from_total_gain(total, m, m_f) == pytest.approx(logdet, abs=1e-9)
  with pytest.raises(ValueError, match='must be > 0'):
    gd.best_rescale_gain(0.0)
