"""An offline FID feature space: a small CNN classifier trained on the train split.

FID needs a feature network; Inception-v3 weights cannot be downloaded
everywhere, so this one is trained here in a few minutes. Its penultimate
layer (`feature_dim` units) is the feature space, and its test accuracy is
reported next to every FID it produces (a feature space is only as
meaningful as the classifier is good). FIDs in this space are comparable
with each other, not with Inception FIDs from papers.

Work directory layout: `checkpoints/<step>/` (Orbax, the parameters) and
`feature_extractor.json` (architecture, data, test accuracy).
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vaeglow_jax import sharding
from vaeglow_jax import checkpoints
from vaeglow_jax.errors import UserError
from vaeglow_jax import data as data_lib
from vaeglow_jax import distributed
from vaeglow_jax import reliability
from vaeglow_jax import workdir as workdir_lib

INFO_FILE = 'feature_extractor.json'


class FeatureExtractorError(UserError, ValueError):
  """No usable feature extractor; the message says how to make one."""


ARCHS = ('strided', 'pooled')


class Classifier(nn.Module):
  """(batch, H, W, C) images in [0, 1] -> (logits (batch, classes), features (batch, feature_dim)).

  arch 'strided': per width, a 3x3 conv and a stride-2 3x3 conv, then a global mean;
  'pooled' (a second, independent feature space): per width, one 5x5 conv, GELU and a 2x2 max
  pool, then flattened (no global pooling, so the features keep where things are)."""
  num_classes: int = 10
  widths: Sequence[int] = (32, 64, 128)
  feature_dim: int = 128
  arch: str = 'strided'

  @nn.compact
  def __call__(self, images):
    x = 2.0 * images - 1.0
    if self.arch == 'pooled':
      for i, width in enumerate(self.widths):
        x = nn.gelu(nn.Conv(width, (5, 5), name=f'conv{i}')(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2), padding='SAME')
      x = x.reshape(x.shape[0], -1)
    elif self.arch == 'strided':
      for i, width in enumerate(self.widths):
        x = nn.relu(nn.Conv(width, (3, 3), name=f'conv{i}_a')(x))
        x = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2), name=f'conv{i}_b')(x))
      x = jnp.mean(x, axis=(1, 2))
    else:
      raise ValueError(f'feature_extractor.arch must be one of {ARCHS}, got {self.arch!r}.')
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(x))
    return nn.Dense(self.num_classes, name='logits')(features), features


def _classifier(fe_config, num_classes):
  return Classifier(num_classes, tuple(fe_config.widths), fe_config.feature_dim,
                    fe_config.get('arch', 'strided'))


def train(config, workdir: str, log=print) -> dict:
  """Trains the classifier on config.data's train split; returns (and writes) its info.

  Uses config.feature_extractor.{widths, feature_dim, num_steps, batch_size,
  learning_rate, seed, max_train_examples}. Checks the data and the work directory before writing.
  With several processes (each running this with the same config), every process trains the
  same classifier on one of its devices (it is small), the checkpoint is saved collectively and
  process 0 writes the info file.
  """
  fe = config.feature_extractor
  for key in ('num_steps', 'batch_size', 'learning_rate'):
    if fe[key] <= 0:
      raise FeatureExtractorError(f'feature_extractor.{key} must be positive, got {fe[key]}.')
  if fe.get('arch', 'strided') not in ARCHS:
    raise FeatureExtractorError(f'feature_extractor.arch must be one of {", ".join(ARCHS)}, '
                                f'got {fe.arch!r}.')
  reliability.check_writable(workdir)
  train_x, train_y = data_lib.labeled_arrays(config.data, 'train', fe.max_train_examples or None)
  test_x, test_y = data_lib.labeled_arrays(config.data, 'test')
  num_classes = int(max(train_y.max(), test_y.max())) + 1
  model = _classifier(fe, num_classes)
  rng = jax.random.PRNGKey(fe.seed)
  params = model.init(rng, jnp.zeros((1,) + train_x.shape[1:], jnp.float32))['params']
  schedule = optax.cosine_decay_schedule(fe.learning_rate, fe.num_steps)
  tx = optax.adam(schedule)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, images, labels):
    def loss_fn(p):
      logits, _ = model.apply({'params': p}, images.astype(jnp.float32) / 255.0)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  order_rng = np.random.default_rng(fe.seed)
  order, position = order_rng.permutation(len(train_x)), 0
  for i in range(1, fe.num_steps + 1):
    if position + fe.batch_size > len(order):
      order, position = order_rng.permutation(len(train_x)), 0
    idx = order[position:position + fe.batch_size]
    position += fe.batch_size
    params, opt_state, loss = step(params, opt_state, train_x[idx], train_y[idx])
    if i % 500 == 0 or i == fe.num_steps:
      log(f'feature extractor step {i}/{fe.num_steps}: train loss {float(loss):.4f}')

  accuracy = accuracy_of(model, params, test_x, test_y)
  info = {'dataset': config.data.name, 'resize': int(config.data.get('resize') or 0),
          'num_classes': num_classes, 'widths': list(fe.widths), 'feature_dim': fe.feature_dim,
          'arch': fe.get('arch', 'strided'), 'seed': fe.seed,
          'num_steps': fe.num_steps, 'batch_size': fe.batch_size,
          'test_accuracy': accuracy, 'num_test_examples': int(len(test_x))}
  manager = checkpoints.checkpoint_manager(workdir_lib.join(workdir, 'checkpoints'), 1)
  import orbax.checkpoint as ocp
  if jax.process_count() > 1:  # Orbax saves global arrays: the parameters, replicated
    params = sharding.replicate(jax.device_get(params), sharding.make_mesh())
  manager.save(fe.num_steps, args=ocp.args.StandardSave(params), force=True)
  manager.wait_until_finished()
  if not distributed.is_primary():
    return info
  workdir_lib.write_json_atomic(workdir_lib.join(workdir, INFO_FILE), info, indent=2)
  return info


def accuracy_of(model, params, images, labels, batch: int = 1000) -> float:
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x.astype(jnp.float32) / 255.0)[0])
  correct = 0
  for i in range(0, len(images), batch):
    correct += int((np.argmax(apply(params, images[i:i + batch]), -1) == labels[i:i + batch]).sum())
  return correct / len(images)


def load(workdir: str, data_config=None):
  """Returns (features_fn, info); features_fn maps (batch, H, W, C) in [0, 1] to
  (batch, feature_dim). With data_config, checks it was trained on that data."""
  classify, info = load_classifier(workdir, data_config)
  return (lambda images: classify(images)[1]), info


def load_classifier(workdir: str, data_config=None):
  """Returns (classify, info); classify maps (batch, H, W, C) in [0, 1] to (logits
  (batch, classes), features (batch, feature_dim)). With data_config, checks the data."""
  info = workdir_lib.read_json(workdir_lib.join(workdir, INFO_FILE))
  if info is None:
    raise FeatureExtractorError(
        f'no feature extractor in {workdir!r}; train one with python -m '
        f'experiments.train_feature_extractor --config=<dataset config> --workdir={workdir}.')
  if data_config is not None:
    resize = int(data_config.get('resize') or 0)
    if (info['dataset'], info['resize']) != (data_config.name, resize):
      raise FeatureExtractorError(
          f"the feature extractor in {workdir} was trained on {info['dataset']} (resize "
          f"{info['resize']}), not {data_config.name} (resize {resize}); train one for this data.")
  model = Classifier(info['num_classes'], tuple(info['widths']), info['feature_dim'],
                     info.get('arch', 'strided'))
  shape = (1,) + data_lib.resized_shape(info['dataset'], info['resize'])
  expected = jax.eval_shape(model.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct(shape, jnp.float32))
  params = checkpoints.load_checked(workdir_lib.join(workdir, 'checkpoints'), expected,
                                    'the feature extractor', 'retrain it.')[0]['params']
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x))
  return (lambda images: apply(params, images)), info
