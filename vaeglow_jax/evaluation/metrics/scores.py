"""Every sample-quality score of one sample set against one reference set, in one feature space.

FID (biased at small sample counts; the standard), KID with its standard error
(unbiased), and improved precision / recall (fidelity and coverage apart).
The reference's statistics and k-NN radii are computed once and reused for
every sample set scored against it (temperature sweeps, calibration curves).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vaeglow_jax.evaluation.metrics import fid as fid_lib
from vaeglow_jax.evaluation.metrics import kid as kid_lib
from vaeglow_jax.evaluation.metrics import precision_recall as pr_lib

SCORE_NAMES = ('fid', 'kid', 'kid_se', 'precision', 'recall')
NEIGHBOURS = 3  # Kynkaanniemi et al.'s k


@dataclasses.dataclass(frozen=True)
class Reference:
  """Reference features (n, d) with their Gaussian fit and k-NN radii (n,)."""
  features: np.ndarray
  stats: fid_lib.FeatureStats
  radii: np.ndarray


def reference(features: np.ndarray) -> Reference:
  features = np.asarray(features, np.float64)
  return Reference(features, fid_lib.feature_stats(features),
                   pr_lib.knn_radii(features, NEIGHBOURS))


def score(ref: Reference, features: np.ndarray) -> dict[str, float]:
  """{'fid', 'kid', 'kid_se', 'precision', 'recall'} of features (m, d) against ref."""
  features = np.asarray(features, np.float64)
  kid, kid_se = kid_lib.kid(features, ref.features)
  precision, recall = pr_lib.precision_recall(ref.features, features, NEIGHBOURS, ref.radii)
  return {'fid': fid_lib.frechet_distance(fid_lib.feature_stats(features), ref.stats),
          'kid': kid, 'kid_se': kid_se, 'precision': precision, 'recall': recall}
