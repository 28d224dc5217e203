"""What the Glow layer does: to its own decoder samples (`glow_layer_effect`: the change it makes
against the decoder's noise, and sharpness) and to test images (`glow_layer_residuals`: the share
of the decoder's residual it removes, and its gain in log p(x|z) split by gain_decomposition)."""

from __future__ import annotations

import math

import jax
import numpy as np

from vaeglow_jax import images as images_lib
from vaeglow_jax.evaluation import gain_decomposition
from vaeglow_jax.evaluation.metrics import sharpness
from vaeglow_jax.models import losses


def glow_layer_effect(samples: dict, reference_images: np.ndarray) -> dict:
  """What the Glow layer does to its own decoder samples (one temperature):
  RMS of x - x_tilde and of x_tilde - decoder mean (pixel units), their ratio (None at T=0,
  where x_tilde is the mean), and each image set's Laplacian energy relative to the test
  images (metrics.sharpness)."""
  x, x_tilde, mean = samples['x'], samples['x_tilde'], samples['decoder_mean']
  change = float(np.sqrt(np.mean((x - x_tilde) ** 2)))
  noise = float(np.sqrt(np.mean((x_tilde - mean) ** 2)))
  out = {'rms_x_minus_x_tilde': change, 'rms_x_tilde_minus_mean': noise,
         'change_over_noise': change / noise if noise > 0 else None}
  for key in ('x', 'x_tilde', 'decoder_mean'):
    out[f'hf_energy_{key}'] = sharpness.relative_energy(samples[key], reference_images)
  return out


def glow_layer_residuals(phase, variables, images: np.ndarray, rng, batch: int) -> dict:
  """What the Glow layer f explains of the decoder's residual on test images (T-free):
  RMS of x - g_mu(z) and of f(x) - g_mu(z) (pixel units, z ~ q(z|x)), the share of the squared
  residual that f removes, both residuals' mean square in decoder standard deviations
  (Phase.base_residuals; 1 for a calibrated decoder), and the layer's gain in log p(x|z) in
  bits/dim split into the Gaussian term's and the log-determinant's (and the latter's share),
  which a rescale moves at will, and into parts it cannot move (gain_decomposition.decompose).
  images: (n, H, W, C) in [0, 1]."""
  step = jax.jit(lambda v, b, r: phase.base_residuals(
      v, losses.dequantize(b, jax.random.fold_in(r, 1), phase.n_bits), r))
  codes = images_lib.to_uint8(images)
  parts = [jax.device_get(step(variables, codes[i:i + batch], jax.random.fold_in(rng, i)))
           for i in range(0, len(codes), batch)]
  mean = {k: float(np.mean(np.concatenate([p[k] for p in parts]))) for k in parts[0]}
  # The Glow layer's gain in log p(x|z) = log N(f(x); mu, sigma) + log|det df/dx|, split in two,
  # in bits/dim: the Gaussian term's (residuals shrunk in sigma units) and the log-determinant's.
  gaussian = 0.5 * (mean['normalised_sq_x'] - mean['normalised_sq_f_x']) / math.log(2)
  logdet = mean['logdet_per_dim'] / math.log(2)
  return {'rms_x_minus_mean': math.sqrt(mean['sq_x']),
          'rms_f_x_minus_mean': math.sqrt(mean['sq_f_x']),
          'residual_removed': 1.0 - mean['sq_f_x'] / mean['sq_x'],
          'normalised_sq_x': mean['normalised_sq_x'],
          'normalised_sq_f_x': mean['normalised_sq_f_x'],
          'gain_bpd_gaussian': gaussian, 'gain_bpd_logdet': logdet,
          'logdet_share_of_gain': logdet / (gaussian + logdet) if gaussian + logdet else None,
          **gain_decomposition.decompose(mean['normalised_sq_x'], mean['normalised_sq_f_x'],
                                         mean['logdet_per_dim'])}
