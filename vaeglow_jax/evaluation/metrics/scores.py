"""Every sample-quality score of one sample set against one reference set, in one feature space.

FID (biased at small sample counts; the standard), KID with its standard error
(unbiased), and improved precision / recall (fidelity and coverage apart).
The reference's statistics and k-NN radii are computed once and reused for
every sample set scored against it (temperature sweeps, calibration curves).

`SCORES` registers them by name: a new score is its module under metrics/ and one entry there.
The evaluation then writes its keys to metrics.json in every feature space and at every
temperature, and the results table (evaluation.report) shows it as a column.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from vaeglow_jax.evaluation.metrics import fid as fid_lib
from vaeglow_jax.evaluation.metrics import kid as kid_lib
from vaeglow_jax.evaluation.metrics import precision_recall as pr_lib

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


@dataclasses.dataclass(frozen=True)
class Score:
  """One sample-quality score in a feature space.

  keys: its numbers' names; metrics.json holds each per space as
    metrics.keys.score_key(key, space).
  compute(reference, features (m, d)) -> {key: value}.
  column: its header in evaluation.report's table ('{space}' is filled in); cell({key: value})
  its entry there; footnote: what the table says it is.
  """
  keys: tuple[str, ...]
  compute: Callable[[Reference, np.ndarray], dict[str, float]]
  column: str
  cell: Callable[[dict], str]
  footnote: str = ''


def _fid(ref: Reference, features: np.ndarray) -> dict[str, float]:
  return {'fid': fid_lib.frechet_distance(fid_lib.feature_stats(features), ref.stats)}


def _kid(ref: Reference, features: np.ndarray) -> dict[str, float]:
  kid, kid_se = kid_lib.kid(features, ref.features)
  return {'kid': kid, 'kid_se': kid_se}


def _precision_recall(ref: Reference, features: np.ndarray) -> dict[str, float]:
  precision, recall = pr_lib.precision_recall(ref.features, features, NEIGHBOURS, ref.radii)
  return {'precision': precision, 'recall': recall}


# FID first: the report finds a run's feature spaces by its 'fid_<space>' keys.
SCORES = {
    'fid': Score(('fid',), _fid, 'FID ({space})', lambda v: f"{v['fid']:.2f}"),
    'kid': Score(('kid', 'kid_se'), _kid, 'KID ({space})',
                 lambda v: f"{v['kid']:.4g} +- {v['kid_se']:.2g}",
                 'KID: unbiased squared MMD (cubic kernel) +- its jackknife standard error'),
    'precision_recall': Score(
        ('precision', 'recall'), _precision_recall, 'precision / recall ({space})',
        lambda v: f"{v['precision']:.3f} / {v['recall']:.3f}",
        f'precision / recall: k-NN manifolds (k={NEIGHBOURS}, Kynkaanniemi et al. 2019)'),
}


def score_names() -> tuple[str, ...]:
  """Every number a feature space gets, in order: ('fid', 'kid', 'kid_se', 'precision', 'recall')
  with the scores registered today."""
  return tuple(key for s in SCORES.values() for key in s.keys)


def score(ref: Reference, features: np.ndarray) -> dict[str, float]:
  """{key: value} of every registered score (score_names()) of features (m, d) against ref."""
  features = np.asarray(features, np.float64)
  out = {}
  for registered in SCORES.values():
    out.update(registered.compute(ref, features))
  return out
