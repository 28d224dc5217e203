"""Where a Glow layer's gain in log p(x|z) comes from, in parts that a rescale cannot move.

The layer f turns log N(x; mu, sigma) into log N(f(x); mu, sigma) + log|det df/dx|. Splitting
that gain into "the Gaussian term" and "the log-determinant" says nothing by itself: a pure
rescale f(x) = mu + s (x - mu) moves gain between the two at will. So the gain G is written as

  G = R + E + M   (nats per dimension; the functions below return bits per dimension)

- R, the best pure rescale: what the best single factor c on the decoder's standard deviation
  (sigma -> c sigma) would gain. With m = mean((x - mu)^2 / sigma^2), the best c^2 is m and
  R = (m - 1 - ln m) / 2 >= 0, which is about (m - 1)^2 / 4 for a calibrated decoder (m ~ 1).
- E, the residual explained: with s = exp(mean log|det df/dx| / D), the layer's geometric-mean
  scale per dimension, rho = mean((f(x) - mu)^2 / sigma^2) / (s^2 m) is the share of the squared
  residual (in sigma units) left once the layer's own scale is divided out, and E = -ln(rho) / 2.
  A pure rescale about mu has rho = 1 and E = 0, whatever its s.
- M = G - R - E = -(t - 1 - ln t) / 2 <= 0 with t = s^2 rho m: what the layer loses by not
  choosing the best scale for the residual it leaves.

Pure functions of the evaluator's means (glow_layer.glow_layer_residuals): m, the same after f,
and the mean log-determinant per dimension, or, for results that kept no log-determinant, the
total gain from the two chains' test bounds (`logdet_from_total_gain`).
"""

from __future__ import annotations

import math

LN2 = math.log(2.0)


def best_rescale_gain(normalised_sq_x: float) -> float:
  """R in bits/dim: the gain in mean log N(x; mu, c sigma) of the best c over c = 1, for
  m = normalised_sq_x = mean((x - mu)^2 / sigma^2) > 0 (c^2 = m)."""
  m = normalised_sq_x
  if not m > 0:
    raise ValueError(f'normalised_sq_x must be > 0, got {m}')
  return 0.5 * (m - 1.0 - math.log(m)) / LN2


def logdet_from_total_gain(total_gain_bpd: float, normalised_sq_x: float,
                           normalised_sq_f_x: float) -> float:
  """The layer's mean log|det df/dx| / D in nats, from its total gain G (bits/dim) and the two
  mean squared residuals in sigma units: G = (m - m_f) / 2 / ln 2 + logdet / ln 2."""
  return total_gain_bpd * LN2 - 0.5 * (normalised_sq_x - normalised_sq_f_x)


def decompose(normalised_sq_x: float, normalised_sq_f_x: float, logdet_per_dim: float) -> dict:
  """The gain G = R + E + M in bits/dim (module docstring), from m = mean((x - mu)^2 /
  sigma^2), m_f = mean((f(x) - mu)^2 / sigma^2) and mean log|det df/dx| / D (nats): keys
  'gain_bpd' (G), 'best_rescale_bpd' (R), 'gain_beyond_rescale_bpd' (G - R), 'layer_scale'
  (s, per dimension), 'residual_kept_rescaled' (rho), 'residual_removed_rescaled' (1 - rho),
  'explained_bpd' (E) and 'scale_mismatch_bpd' (M)."""
  m, m_f, logdet = normalised_sq_x, normalised_sq_f_x, logdet_per_dim
  gain = (0.5 * (m - m_f) + logdet) / LN2
  best = best_rescale_gain(m)
  rho = m_f / (math.exp(2.0 * logdet) * m)
  explained = -0.5 * math.log(rho) / LN2
  return {'gain_bpd': gain, 'best_rescale_bpd': best, 'gain_beyond_rescale_bpd': gain - best,
          'layer_scale': math.exp(logdet), 'residual_kept_rescaled': rho,
          'residual_removed_rescaled': 1.0 - rho, 'explained_bpd': explained,
          'scale_mismatch_bpd': gain - best - explained}
