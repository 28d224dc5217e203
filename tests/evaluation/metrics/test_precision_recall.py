"""Improved precision/recall on sets whose answers are known: copies, disjoint sets, dropped modes."""

import numpy as np
import pytest

from vaeglow_jax.evaluation.metrics import precision_recall as pr
from vaeglow_jax.evaluation.metrics import scores


def _clusters(rng, n, centres, spread=0.05):
  labels = rng.integers(len(centres), size=n)
  return centres[labels] + spread * rng.normal(size=(n, centres.shape[1]))


def test_knn_radii_are_the_kth_nearest_other_point():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(40, 3))
  d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
  d[np.arange(40), np.arange(40)] = np.inf
  np.testing.assert_allclose(pr.knn_radii(x, k=3, block=7), np.sort(d, 1)[:, 2], rtol=1e-9)


def test_a_copy_scores_one_and_a_distant_set_zero():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(300, 8))
  assert pr.precision_recall(x, x.copy()) == (1.0, 1.0)
  assert pr.precision_recall(x, x + 100.0) == (0.0, 0.0)


def test_dropped_modes_cost_recall_not_precision():
  rng = np.random.default_rng(2)
  centres = 10.0 * rng.normal(size=(10, 6))
  real = _clusters(rng, 2000, centres)
  fresh_precision, _ = pr.precision_recall(real, _clusters(rng, 2000, centres))
  two_modes = _clusters(rng, 2000, centres[:2])
  precision, recall = pr.precision_recall(real, two_modes)
  # As realistic as a fresh draw of the data (k-NN balls of 2,000 points in 6-D miss ~10% of it).
  assert precision > fresh_precision - 0.05
  assert abs(recall - 0.2) < 0.05  # the 2 kept clusters hold about 20% of the real points


def test_samples_off_the_data_cost_precision_not_recall():
  rng = np.random.default_rng(3)
  centres = 10.0 * rng.normal(size=(10, 6))
  real = _clusters(rng, 2000, centres)
  spread = _clusters(rng, 2000, centres, spread=0.4)  # 8x wider clusters: many samples off-manifold
  precision, recall = pr.precision_recall(real, spread)
  assert precision < 0.5
  assert recall > 0.95


def test_scores_against_a_reference_are_consistent_with_each_metric():
  rng = np.random.default_rng(4)
  real, fake = rng.normal(size=(200, 5)), rng.normal(size=(150, 5)) + 0.5
  ref = scores.reference(real)
  out = scores.score(ref, fake)
  assert set(out) == set(scores.score_names())
  from vaeglow_jax.evaluation.metrics import fid, kid
  assert out['fid'] == pytest.approx(fid.fid_from_features(fake, real), rel=1e-12)
  assert (out['kid'], out['kid_se']) == pytest.approx(kid.kid(fake, real), rel=1e-12)
  assert (out['precision'], out['recall']) == pr.precision_recall(real, fake)
