"""The offline FID feature space: loads the small CNN classifier of models.classifier.

FID needs a feature network; Inception-v3 weights cannot be downloaded
everywhere, so this one is trained here in a few minutes. Its penultimate
layer (`feature_dim` units) is the feature space, and its test accuracy is
reported next to every FID it produces (a feature space is only as
meaningful as the classifier is good). FIDs in this space are comparable
with each other, not with Inception FIDs from papers.

Work directory layout: `checkpoints/<step>/` (Orbax, the parameters) and
`feature_extractor.json` (architecture, data, test accuracy), written by
`vaeglow_jax.training.feature_extractor.train`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vaeglow_jax import data as data_lib
from vaeglow_jax import errors
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.models import classifier as classifier_lib

INFO_FILE = workdir_lib.FEATURE_EXTRACTOR_INFO
FeatureExtractorError = errors.FeatureExtractorError
# The classifier is a model (vaeglow_jax.models.classifier), trained by
# vaeglow_jax.training.feature_extractor; its names are kept here for the callers that load it.
Classifier = classifier_lib.Classifier
ARCHS = classifier_lib.ARCHS
accuracy_of = classifier_lib.accuracy_of


def load(workdir: str, data_config=None):
  """Returns (features_fn, info); features_fn maps (batch, H, W, C) in [0, 1] to
  (batch, feature_dim). With data_config, checks it was trained on that data."""
  classify, info = load_classifier(workdir, data_config)
  return (lambda images: classify(images)[1]), info


def load_classifier(workdir: str, data_config=None):
  """Returns (classify, info); classify maps (batch, H, W, C) in [0, 1] to (logits
  (batch, classes), features (batch, feature_dim)). With data_config, checks the data."""
  info = files_lib.read_json(files_lib.join(workdir, INFO_FILE))
  if info is None:
    raise FeatureExtractorError(
        f'no feature extractor in {workdir!r}; train one with vaeglow-features '
        f'--config=<dataset, e.g. fashion_mnist> --workdir={workdir}.')
  if data_config is not None:
    resize = int(data_config.get('resize') or 0)
    if (info['dataset'], info['resize']) != (data_config.name, resize):
      raise FeatureExtractorError(
          f"the feature extractor in {workdir} was trained on {info['dataset']} (resize "
          f"{info['resize']}), not {data_config.name} (resize {resize}); train one for this data.")
  model = Classifier(info['num_classes'], tuple(info['widths']), info['feature_dim'],
                     info.get('arch', 'strided'))
  shape = (1,) + (tuple(info['image_shape']) if 'image_shape' in info  # newer extractors
                  else data_lib.resized_shape(info['dataset'], info['resize']))
  expected = jax.eval_shape(model.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct(shape, jnp.float32))
  params = checkpoints.load_checked(files_lib.join(workdir, 'checkpoints'), expected,
                                    'the feature extractor', 'retrain it.')[0]['params']
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x))
  return (lambda images: apply(params, images)), info
