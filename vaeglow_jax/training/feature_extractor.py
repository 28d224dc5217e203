"""Trains the offline FID feature extractor (models.classifier) with the training loop every
phase uses (training.loop: the non-finite guard, device-side metric sums); the evaluation side
loads it (evaluation.metrics.feature_extractor)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vaeglow_jax import data as data_lib
from vaeglow_jax.config import checks as config_checks
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.models import build as build_lib
from vaeglow_jax.models import classifier as classifier_lib
from vaeglow_jax.runtime import distributed
from vaeglow_jax.runtime import sharding
from vaeglow_jax.training import loop as loop_lib
from vaeglow_jax.training import train as train_lib

# Training-loss log period, in steps.
LOG_EVERY_STEPS = 500


def train(config, workdir: str, log=print) -> dict:
  """Trains the classifier on config.data's train split; returns (and writes) its info.

  Uses config.feature_extractor.{widths, feature_dim, arch, num_steps, batch_size,
  learning_rate, seed, max_train_examples} (Adam, cosine decay; batches drawn without
  replacement, reshuffled each epoch) and the non-finite policy of every phase (`nonfinite`,
  `max_consecutive_nonfinite`). Checks the config, the data and the work directory before
  writing. With several processes (each running this with the same config), every process
  trains the same classifier on one of its devices (it is small), the checkpoint is saved
  collectively and process 0 writes the info file.
  """
  fe = config.feature_extractor
  config_checks.check_feature_extractor(fe)
  files_lib.check_writable(workdir)
  train_x, train_y = data_lib.labeled_arrays(config.data, 'train', fe.max_train_examples or None)
  test_x, test_y = data_lib.labeled_arrays(config.data, 'test')
  num_classes = int(max(train_y.max(), test_y.max())) + 1
  model = build_lib.classifier(fe, num_classes)
  params = model.init(jax.random.PRNGKey(fe.seed),
                      jnp.zeros((1,) + train_x.shape[1:], jnp.float32))['params']
  params = fit(model, params, train_x, train_y, fe, config.nonfinite == 'stop',
               config.max_consecutive_nonfinite, log)
  accuracy = classifier_lib.accuracy_of(model, params, test_x, test_y)
  info = {'dataset': config.data.name, 'resize': int(config.data.get('resize') or 0),
          'image_shape': list(train_x.shape[1:]),
          'num_classes': num_classes, 'widths': list(fe.widths), 'feature_dim': fe.feature_dim,
          'arch': fe.get('arch', 'strided'), 'seed': fe.seed,
          'num_steps': fe.num_steps, 'batch_size': fe.batch_size,
          'test_accuracy': accuracy, 'num_test_examples': int(len(test_x))}
  manager = checkpoints.checkpoint_manager(files_lib.join(workdir, 'checkpoints'), 1)
  if jax.process_count() > 1:  # Orbax saves global arrays: the parameters, replicated
    params = sharding.replicate(jax.device_get(params), sharding.make_mesh())
  checkpoints.save_checkpoint(manager, params, step=fe.num_steps)
  if not distributed.is_primary():
    return info
  files_lib.write_json_atomic(files_lib.join(workdir, workdir_lib.FEATURE_EXTRACTOR_INFO),
                                info, indent=2)
  return info


def fit(model, params, images, labels, fe_config, stop_on_nonfinite: bool = False,
        max_consecutive_nonfinite: int = 10, log=print):
  """`params` of classifier `model` after fe_config.num_steps steps of Adam (learning_rate,
  cosine decay) on uint8 `images` (n, H, W, C) and int `labels` (n,), in batches of
  fe_config.batch_size drawn without replacement (fe_config.seed), by training.loop.TrainLoop.
  -> the trained params."""
  tx = optax.adam(optax.cosine_decay_schedule(fe_config.learning_rate, fe_config.num_steps))
  state = train_lib.create_state({'params': params}, tuple(params), tx)

  def step(state, batch, rng):
    del rng
    batch_images, batch_labels = batch

    def loss_fn(p):
      logits, _ = model.apply({'params': p}, batch_images.astype(jnp.float32) / 255.0)
      return optax.softmax_cross_entropy_with_integer_labels(logits, batch_labels).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    finite = jnp.isfinite(loss)
    params = optax.apply_updates(state.params, updates)
    new = state.replace(step=state.step + 1,
                        params=train_lib.tree_where(finite, params, state.params),
                        opt_state=train_lib.tree_where(finite, opt_state, state.opt_state))
    return new, {'objective': loss, 'finite': finite}  # 'objective': a non-finite one is 'loss'

  loop_step = jax.jit(train_lib.monitored(step, stop_on_nonfinite, max_consecutive_nonfinite))

  class _LogWriter:  # the loop's train/* scalars, as log lines
    def write_scalars(self, step, scalars):
      log(f'feature extractor step {step}/{fe_config.num_steps}: train loss '
          f'{scalars["train/objective"]:.4f}')

  state, _, _ = loop_lib.TrainLoop(
      loop_step, jax.jit(train_lib.LoopMonitor.reset_sums), fe_config.num_steps, LOG_EVERY_STEPS,
      writer=_LogWriter()).run(state, train_lib.LoopMonitor.create(['objective']),
                               _batches(images, labels, fe_config.batch_size, fe_config.seed), None, 0)
  return state.params


def _batches(images, labels, batch_size: int, seed: int):
  """Endless (images, labels) batches: a permutation of the split drawn without replacement,
  a new permutation when fewer than batch_size examples are left."""
  order_rng = np.random.default_rng(seed)
  order, position = order_rng.permutation(len(images)), 0
  while True:
    if position + batch_size > len(order):
      order, position = order_rng.permutation(len(images)), 0
    index = order[position:position + batch_size]
    position += batch_size
    yield images[index], labels[index]
