"""Samples scored against the test images in every feature space: the spaces a config names
(`feature_spaces`), features in batches, the reference images, and the score keys metrics.json
gets (`score_metrics`: every score of metrics.scores.SCORES, with no score named here)."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax import data as data_lib
from vaeglow_jax.evaluation.metrics import feature_extractor as fe_lib
from vaeglow_jax.evaluation.metrics import inception
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.evaluation.metrics import scores as scores_lib


def test_images(config, max_examples: int) -> np.ndarray:
  """Held-out test images in [0, 1] (up to max_examples), all of them on every process (each
  reads its slice of every batch; the slices are gathered, a collective)."""
  from jax.experimental import multihost_utils
  batches = []
  for images, mask in data_lib.eval_iterator(config.data, 'test', config.eval.batch_size,
                                             max_examples or None):
    if jax.process_count() > 1:
      images, mask = (np.asarray(multihost_utils.process_allgather(a, tiled=True))
                      for a in (images, mask))
    batches.append(images[mask])
  return np.concatenate(batches).astype(np.float32) / 255.0


def features(feature_fn, images: np.ndarray, batch: int) -> np.ndarray:
  """(n, H, W, C) in [0, 1] -> (n, d) features, in batches (the last padded)."""
  out = []
  for i in range(0, len(images), batch):
    chunk = images[i:i + batch]
    n = len(chunk)
    if n < batch:
      chunk = np.concatenate([chunk, np.zeros((batch - n,) + chunk.shape[1:], chunk.dtype)])
    out.append(np.asarray(feature_fn(jnp.asarray(chunk, jnp.float32)))[:n])
  return np.concatenate(out)


def feature_spaces(config) -> tuple[dict, dict]:
  """({space: (feature_fn, info)}, {fid_<space>: why it is absent}); raises on a bad weights
  file or feature extractor, before any output is written. Spaces: 'inception' and the
  dataset's name (the offline classifier)."""
  spaces, absent = {}, {}
  e = config.eval
  if e.inception_weights:
    params = inception.load_params(e.inception_weights)
    spaces['inception'] = (lambda x: inception.features(params, x), {})
  else:
    absent['fid_inception'] = ('no Inception weights given (--config.eval.inception_weights=PATH); '
                               'see vaeglow_jax/evaluation/metrics/inception.py for how to get them')
  name = config.data.name
  if e.feature_extractor_dir:
    fn, info = fe_lib.load(e.feature_extractor_dir, config.data)
    spaces[name] = (fn, {keys.CLASSIFIER_TEST_ACCURACY: info['test_accuracy']})
  else:
    absent[f'fid_{name}'] = ('no feature extractor given (--config.eval.feature_extractor_dir=DIR); '
                             'train one with vaeglow-features')
  if e.get('feature_extractor_dir_2'):  # a second classifier: does a verdict hold in both spaces?
    fn, info = fe_lib.load(e.feature_extractor_dir_2, config.data)
    spaces[f'{name}_2'] = (fn, {keys.CLASSIFIER_TEST_ACCURACY: info['test_accuracy'],
                                'classifier_arch': info.get('arch', 'strided')})
  return spaces, absent


def score_metrics(config, spaces, by_temperature, sweep) -> dict:
  """metrics.json's score keys: each score at config.sampling.temperature, by temperature when
  several were sampled, and each feature space's facts (its classifier's accuracy, ...)."""
  out = {}
  for name, (_, info) in spaces.items():
    for score in scores_lib.score_names():
      key = keys.score_key(score, name)
      out[key] = by_temperature[name][f'{config.sampling.temperature:g}'][score]
      if len(sweep) > 1:
        out[keys.by_temperature(key)] = {t: v[score] for t, v in by_temperature[name].items()}
    for key, value in info.items():
      out[keys.space_fact(name, key)] = value
  return out


def describe(scores: dict) -> str:
  """One log line of a sample set's scores: each registered score's table cell."""
  return ', '.join(f'{name} {registered.cell(scores)}'
                   for name, registered in scores_lib.SCORES.items())
