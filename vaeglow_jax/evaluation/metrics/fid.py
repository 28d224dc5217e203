"""Frechet distance between Gaussian fits of two feature sets (FID).

FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).
The matrix square root is taken through the symmetric form
(S1 S2)^(1/2) ~ S1^(1/2) (S1^(1/2) S2 S1^(1/2))^(1/2) S1^(-1/2), whose trace equals
the trace of the square root of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2):
two symmetric eigendecompositions in float64, no complex parts and no
ill-conditioned non-symmetric sqrtm (the source of NaNs and imaginary parts in
scipy.linalg.sqrtm-based code when features are rank-deficient).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class FeatureStats:
  """Mean (d,) and covariance (d, d) of a feature set, float64, and how many rows."""
  mean: np.ndarray
  cov: np.ndarray
  count: int


def feature_stats(features: np.ndarray) -> FeatureStats:
  """(n, d) features -> FeatureStats (unbiased covariance, n >= 2)."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or features.shape[0] < 2:
    raise ValueError(f'features must be (n >= 2, d), got shape {features.shape}.')
  return FeatureStats(features.mean(0), np.cov(features, rowvar=False), features.shape[0])


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
  """Square root of a symmetric PSD matrix (negative round-off eigenvalues clipped to 0)."""
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
  return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
  """FID between two Gaussian fits; >= 0 up to float64 round-off."""
  if a.mean.shape != b.mean.shape:
    raise ValueError(f'feature sizes differ: {a.mean.shape} vs {b.mean.shape}.')
  sqrt_a = _psd_sqrt(a.cov)
  cross = _psd_sqrt(sqrt_a @ b.cov @ sqrt_a)
  diff = a.mean - b.mean
  value = diff @ diff + np.trace(a.cov) + np.trace(b.cov) - 2.0 * np.trace(cross)
  return float(max(value, 0.0))


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
  return frechet_distance(feature_stats(features_a), feature_stats(features_b))
