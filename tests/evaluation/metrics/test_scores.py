"""The score registry: a new score is one module and one SCORES entry; the evaluation's metrics
and the results table then carry it with no other change."""

import numpy as np
import ml_collections

from vaeglow_jax.evaluation import report
from vaeglow_jax.evaluation import scoring
from vaeglow_jax.evaluation.metrics import scores


def _mean_shift(ref, features):
  """A score the library does not have: |mean(features) - mean(reference)|."""
  return {'mean_shift': float(np.linalg.norm(features.mean(0) - ref.features.mean(0)))}


def test_a_registered_score_reaches_metrics_json_keys_and_the_results_table(monkeypatch):
  monkeypatch.setitem(scores.SCORES, 'mean_shift', scores.Score(
      ('mean_shift',), _mean_shift, 'mean shift ({space})', lambda v: f"{v['mean_shift']:.1f}",
      'mean shift: distance of the feature means'))
  rng = np.random.default_rng(0)
  reference = scores.reference(rng.normal(size=(64, 4)))
  shifted = rng.normal(size=(48, 4)) + np.array([3.0, 4.0, 0.0, 0.0])
  values = scores.score(reference, shifted)
  assert list(values) == ['fid', 'kid', 'kid_se', 'precision', 'recall', 'mean_shift']
  assert abs(values['mean_shift'] - 5.0) < 0.5  # the shift's length, up to sampling noise

  # What experiments.evaluate writes: every key in every space, by temperature when swept.
  config = ml_collections.ConfigDict({'sampling': {'temperature': 0.5}})
  spaces = {'fashion_mnist': (None, {'classifier_test_accuracy': 0.9})}
  by_temperature = {'fashion_mnist': {'0': scores.score(reference, shifted / 2), '0.5': values}}
  metrics = scoring.score_metrics(config, spaces, by_temperature, (0.0, 0.5))
  assert metrics['mean_shift_fashion_mnist'] == values['mean_shift']
  assert set(metrics['mean_shift_fashion_mnist_by_temperature']) == {'0', '0.5'}
  assert metrics['fid_fashion_mnist_classifier_test_accuracy'] == 0.9
  # The evaluation's log line of each temperature's scores.
  assert scoring.describe(values).endswith(f"mean_shift {values['mean_shift']:.1f}")
  assert scoring.describe(values).startswith(f"fid {values['fid']:.2f}, kid ")

  # The results table: its own column after FID, KID and precision / recall, and its footnote.
  row = {'workdir': 'w', 'phase': 'glow', 'model_description': '', 'temperature': 0.5,
         'test_bpd_elbo': 4.0, 'test_bpd_iw': 3.9, 'iw_samples': 4, **metrics}
  table = report.markdown_table([row])
  header, _, cells = table.splitlines()[:3]
  assert header.split(' | ')[-3] == 'mean shift (fashion_mnist)'
  assert cells.split(' | ')[-3] == f"{values['mean_shift']:.1f}"
  assert ('precision / recall: k-NN manifolds (k=3, Kynkaanniemi et al. 2019); mean shift: '
          'distance of the feature means, same features and samples as the FID.') in table


def test_without_new_scores_the_table_is_as_before():
  """The registry's default columns and footnote are the table's before the registry (be3f886)."""
  row = {'workdir': 'w', 'phase': 'vae', 'model_description': '', 'test_bpd_elbo': 4.0,
         'test_bpd_iw': 3.9, 'iw_samples': 4, 'fid_x': 10.0, 'kid_x': 0.5, 'kid_se_x': 0.05,
         'precision_x': 0.7, 'recall_x': 0.2}
  table = report.markdown_table([row])
  assert table.splitlines()[0] == ('| model | workdir | test bpd (ELBO) | test bpd (IW) | FID (x) '
                                   '| KID (x) | precision / recall (x) | s/epoch | training time |')
  assert '| 10.00 | 0.5 +- 0.05 | 0.700 / 0.200 |' in table.splitlines()[2]
  assert ('- KID: unbiased squared MMD (cubic kernel) +- its jackknife standard error; precision '
          '/ recall: k-NN manifolds (k=3, Kynkaanniemi et al. 2019), same features and samples as '
          'the FID.') in table
