"""Where a decoder's reconstruction error goes, and how varied its samples are within a class:
the measures behind "diagonal variances make the decoder means prototypes" (RESULTS.md).

With per-pixel variances at their optimum the Gaussian cost of a decoder is sum_i log MSE_i (up
to constants), which pays for a relative, not an absolute, error: a pixel whose error halves
gains the same whether it was near-perfect background or high-error texture. With one scalar
variance the cost is log sum_i MSE_i, which pays for the absolute error wherever it is.
"""

from __future__ import annotations

import numpy as np


def per_pixel(images: np.ndarray, means: np.ndarray, log_stds: np.ndarray) -> dict:
  """images, means, log_stds: (n, H, W, C) in pixel units -> per-pixel (H, W, C) 'mse' (mean
  squared error over the n images), 'variance' (mean decoder variance) and 'intensity' (mean
  image value)."""
  return {'mse': np.mean((images - means) ** 2, axis=0),
          'variance': np.mean(np.exp(2.0 * log_stds), axis=0),
          'intensity': np.mean(images, axis=0)}


def error_split(stats: dict, background_below: float = 0.05) -> dict:
  """Summaries of per_pixel's output: the RMS error on background pixels (mean intensity below
  `background_below`) and on the rest; the share of the squared error in the 10% of pixels with
  the largest error; and the correlation of log MSE with log variance over pixels (1 for a
  variance that follows the error exactly)."""
  mse, intensity = stats['mse'].ravel(), stats['intensity'].ravel()
  background = intensity < background_below
  top = np.sort(mse)[::-1][:max(1, mse.size // 10)]
  return {
      'rms_background': float(np.sqrt(np.mean(mse[background]))) if background.any() else None,
      'rms_foreground': float(np.sqrt(np.mean(mse[~background]))) if (~background).any() else None,
      'background_fraction': float(np.mean(background)),
      'top10_error_share': float(top.sum() / mse.sum()),
      'log_mse_log_variance_corr': float(np.corrcoef(np.log(mse + 1e-12),
                                                     np.log(stats['variance'].ravel()))[0, 1]),
  }


def within_class_spread(features: np.ndarray, labels: np.ndarray, reference: np.ndarray,
                        reference_labels: np.ndarray, min_count: int = 5) -> dict:
  """How varied samples are within each class, against real images of that class: per class
  (labels from a classifier), the RMS distance of the samples' features to their class mean over
  the same for the reference images. {'by_class': {label: ratio}, 'mean_ratio': mean over classes
  with at least min_count of each}. Below 1: less varied than the data (prototypes)."""
  ratios = {}
  for label in np.unique(reference_labels):
    a, b = features[labels == label], reference[reference_labels == label]
    if len(a) < min_count or len(b) < min_count:
      continue
    spread = lambda f: np.sqrt(np.mean(np.sum((f - f.mean(0)) ** 2, axis=-1)))  # noqa: E731
    ratios[int(label)] = float(spread(a) / spread(b))
  return {'by_class': ratios, 'mean_ratio': float(np.mean(list(ratios.values()))) if ratios else None}
