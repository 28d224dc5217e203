"""High-frequency energy of images: how sharp (or grainy) samples are against real images.

The energy of an image is the mean over its interior pixels and channels of the squared
4-neighbour discrete Laplacian, (4 x[i, j] - x[i-1, j] - x[i+1, j] - x[i, j-1] - x[i, j+1])^2.
Blurred images have less of it than real ones; pixel noise adds to it. A sample set's
energy relative to the test images' tells which way it errs (1 = as sharp as the data).
"""

from __future__ import annotations

import numpy as np


def laplacian_energy(images: np.ndarray) -> np.ndarray:
  """(n, H, W, C) images in [0, 1], H, W >= 3 -> (n,) mean squared Laplacian."""
  x = np.asarray(images, np.float64)
  lap = (4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1]
         - x[:, 1:-1, :-2] - x[:, 1:-1, 2:])
  return np.mean(lap ** 2, axis=(1, 2, 3))


def relative_energy(images: np.ndarray, reference: np.ndarray) -> float:
  """Mean Laplacian energy of `images` over that of `reference` (1 = as sharp)."""
  return float(laplacian_energy(images).mean() / laplacian_energy(reference).mean())
