"""Improved precision and recall (Kynkaanniemi et al. 2019) from k-NN feature manifolds.

Each set's manifold is the union of balls around its points, each ball's radius
the distance to that point's k-th nearest neighbour in its own set (k = 3 in
the paper). Precision is the fraction of generated points inside the real
manifold ("are the samples realistic?"); recall is the fraction of real points
inside the generated manifold ("is every part of the data covered?"). A model
that draws only some classes keeps its precision and loses recall; a model
whose samples are off the data (noise, blur) loses precision.

Distances are Euclidean, in float64, computed in row blocks so that 10,000 x
10,000 pairs never sit in memory at once.
"""

from __future__ import annotations

import numpy as np


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
  return np.maximum(d, 0.0)


def knn_radii(features: np.ndarray, k: int = 3, block: int = 1024) -> np.ndarray:
  """(n, d) -> (n,) distance of each row to its k-th nearest other row (n > k)."""
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or len(x) <= k:
    raise ValueError(f'k-NN radii need (n > k={k}, d) features, got shape {x.shape}.')
  radii = np.empty(len(x))
  for i in range(0, len(x), block):
    d = _squared_distances(x[i:i + block], x)
    # The row itself is at distance 0, so the k-th neighbour is the (k+1)-th smallest.
    radii[i:i + block] = np.sqrt(np.partition(d, k, axis=1)[:, k])
  return radii


def coverage_fraction(points: np.ndarray, centres: np.ndarray, radii: np.ndarray,
                      block: int = 1024) -> float:
  """Fraction of `points` (n, d) inside at least one ball (centres (m, d), radii (m,))."""
  p = np.asarray(points, np.float64)
  c = np.asarray(centres, np.float64)
  squared_radii = np.asarray(radii, np.float64) ** 2
  inside = 0
  for i in range(0, len(p), block):
    inside += int(np.any(_squared_distances(p[i:i + block], c) <= squared_radii[None], axis=1).sum())
  return inside / len(p)


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3,
                     real_radii: np.ndarray | None = None) -> tuple[float, float]:
  """(precision, recall) of `generated` against `real`, both (n, d); real_radii may be
  passed in (knn_radii(real, k)) when many sample sets are scored against one reference."""
  if real_radii is None:
    real_radii = knn_radii(real, k)
  precision = coverage_fraction(generated, real, real_radii)
  recall = coverage_fraction(real, generated, knn_radii(generated, k))
  return precision, recall
