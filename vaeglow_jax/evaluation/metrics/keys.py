"""The keys of WORKDIR/eval/metrics.json, in one place: the evaluation writes them
(evaluation.evaluator) and the tables read them (evaluation.report, experiments.factorial).

metrics.json is {result key: metrics} (loading.result_name: 'glow', 'glow+prior'); one
evaluation's metrics hold the keys below, each score per feature space (score_key) and, when
several temperatures were sampled, by temperature (by_temperature).
"""

from __future__ import annotations

TEST_BPD_ELBO = 'test_bpd_elbo'    # bits/dim of the negative ELBO on the test images
TEST_BPD_IW = 'test_bpd_iw'        # bits/dim of the importance-weighted bound, IW_SAMPLES samples
TEST_BPD_EXACT = 'test_bpd_exact'  # an exact likelihood (the Glow baseline)
IW_SAMPLES = 'iw_samples'
TEMPERATURE = 'temperature'        # the temperature the unsuffixed scores were sampled at
NUM_FID_SAMPLES = 'num_fid_samples'
NUM_FID_REFERENCE_IMAGES = 'num_fid_reference_images'
GLOW_LAYER = 'glow_layer'          # x_tilde / decoder-mean scores, effect and residual of a Glow layer
RECONSTRUCTION = 'reconstruction'
CLASSIFIER_TEST_ACCURACY = 'classifier_test_accuracy'  # a feature space's classifier


def result_key(phase: str, prior_phase: str = '') -> str:
  """metrics.json's top-level key (and eval/ folder) of one evaluation: the phase, or
  'PHASE+PRIOR' for a chain sampled from another phase's latent prior."""
  return f'{phase}+{prior_phase}' if prior_phase else phase


def score_key(score: str, space: str) -> str:
  """One score in one feature space: 'fid_fashion_mnist', 'kid_se_inception'."""
  return f'{score}_{space}'


def by_temperature(key: str) -> str:
  """{temperature: value} of a score key: 'fid_fashion_mnist_by_temperature'."""
  return f'{key}_by_temperature'


def space_fact(space: str, fact: str) -> str:
  """A fact about a feature space (its classifier's accuracy, ...): 'fid_<space>_<fact>'."""
  return f'{score_key("fid", space)}_{fact}'


def feature_spaces(metrics: dict) -> list[str]:
  """The feature spaces an evaluation scored in (those with a float 'fid_<space>'), in the
  order metrics.json has them."""
  return [key[len('fid_'):] for key, value in metrics.items()
          if key.startswith('fid_') and isinstance(value, float)
          and not key.endswith(CLASSIFIER_TEST_ACCURACY)]
