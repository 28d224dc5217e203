"""`train_and_evaluate(config, workdir)`: one trainer for every phase."""

from __future__ import annotations

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from vaeglow_jax import data as data_lib
from vaeglow_jax import phases
from vaeglow_jax import train as train_lib


class TrainingError(RuntimeError):
  """A problem the user can fix; the message says how."""


def validate_config(config) -> None:
  """Rejects bad values with one clear line each."""
  problems = []
  if config.phase not in phases.PHASES:
    problems.append(f'phase {config.phase!r} is unknown; choose one of {list(phases.PHASES)}')
  if not 1 <= config.data.n_bits <= 8:
    problems.append(f'data.n_bits must be in 1..8, got {config.data.n_bits}')
  if config.learning_rate <= 0:
    problems.append(f'learning_rate must be positive, got {config.learning_rate}')
  if config.batch_size <= 0:
    problems.append(f'batch_size must be positive, got {config.batch_size}')
  if config.num_train_steps <= 0 and config.num_epochs <= 0:
    problems.append('set num_train_steps > 0 or num_epochs > 0')
  if config.sampling.temperature < 0:
    problems.append(f'sampling.temperature must be >= 0, got {config.sampling.temperature}')
  data_lib.get_spec(config.data.name)
  if problems:
    raise TrainingError('; '.join(problems) + '.')


def phase_dir(workdir: str, phase: str) -> str:
  return os.path.join(workdir, phase)


def _stage1_manager(config, workdir):
  stage1 = config.stage1_workdir or workdir
  directory = os.path.join(phase_dir(stage1, 'vae'), 'checkpoints')
  manager = train_lib.checkpoint_manager(directory, config.keep_checkpoints) if os.path.isdir(directory) else None
  if manager is None or manager.latest_step() is None:
    raise TrainingError(
        f'phase {config.phase!r} needs a phase-1 checkpoint in {directory}; run phase vae first '
        '(--config.phase=vae) or point --config.stage1_workdir at its workdir.')
  return manager


def _load_stage1(config, workdir, variables, keys):
  """Replaces variables['params'][key] for key in keys with the phase-1 values."""
  manager = _stage1_manager(config, workdir)
  raw = train_lib.restore_raw(manager)
  saved = {**raw['frozen'], **raw['params']}
  params = dict(variables['params'])
  for key in keys:
    if key not in params:
      continue
    if key not in saved:
      raise TrainingError(f'the phase-1 checkpoint has no {key!r} parameters; it was trained with '
                          'a different model configuration.')
    expected = jax.tree_util.tree_flatten_with_path(params[key])[0]
    got = dict(jax.tree_util.tree_flatten_with_path(saved[key])[0])
    for path, leaf in expected:
      name = key + jax.tree_util.keystr(path)
      if path not in got:
        raise TrainingError(f'phase-1 checkpoint lacks parameter {name}: its architecture differs '
                            'from this config (same model.* as phase 1?).')
      if tuple(got[path].shape) != tuple(leaf.shape):
        raise TrainingError(f'phase-1 parameter {name} has shape {tuple(got[path].shape)}, this config '
                            f'expects {tuple(leaf.shape)}: use the same model.* as phase 1.')
    params[key] = jax.tree_util.tree_map(lambda a, b: jnp.asarray(b, a.dtype), params[key], saved[key])
  return {**variables, 'params': params}, int(manager.latest_step())


def train_and_evaluate(config, workdir: str) -> list[tuple[int, dict]]:
  """Trains `config.phase` in workdir/<phase>/.

  Returns the logged training summaries of this run as [(step, {metric: mean})].
  """
  from clu import metric_writers, parameter_overview, periodic_actions

  validate_config(config)
  if config.multihost:
    jax.distributed.initialize()
  spec = phases.get_spec(config.phase)
  mesh = train_lib.make_mesh(config.num_devices or None)
  train_lib.check_batch_size(config.batch_size, mesh)
  image_shape = data_lib.image_shape(config.data)
  phase = phases.Phase(config, image_shape)

  out_dir = phase_dir(workdir, config.phase)
  if spec.from_stage1:
    _stage1_manager(config, workdir)  # fail before touching the work directory
  train_split = config.data.train_split or data_lib.get_spec(config.data.name).train_split
  steps_per_epoch = max(1, data_lib.num_examples(config.data, train_split) // config.batch_size)
  num_steps = config.num_train_steps if config.num_train_steps > 0 else config.num_epochs * steps_per_epoch

  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))
  writer = metric_writers.create_default_writer(out_dir, just_logging=jax.process_index() > 0)
  manager = train_lib.checkpoint_manager(os.path.join(out_dir, 'checkpoints'), config.keep_checkpoints)

  rng = jax.random.PRNGKey(config.seed)
  rng_init, rng_train, rng_sample = jax.random.split(rng, 3)
  tx = train_lib.make_optimizer(config, steps_per_epoch)

  # Initialise on the first global batch (ActNorm's data-dependent init), or resume.
  start_step = manager.latest_step() or 0
  first = next(data_lib.train_iterator(config.data, config.batch_size, config.seed, 0))
  first = train_lib.shard_batch(first, mesh)
  init_fn = jax.jit(lambda r, b: phase.init(r, _dequantize_fixed(b, phase.n_bits)),
                    out_shardings=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  variables = init_fn(rng_init, first)
  stage1_step = None
  if spec.from_stage1:
    variables, stage1_step = _load_stage1(config, workdir, variables, spec.from_stage1)
  state = train_lib.create_state(variables, spec.trainable, tx)
  state = train_lib.replicate(state, mesh)
  if start_step:
    state = train_lib.restore_checkpoint(manager, state, start_step)
    logging.info('resumed %s from step %d', config.phase, start_step)
  elif stage1_step is not None:
    logging.info('phase-1 parameters %s restored from step %d and frozen', spec.from_stage1, stage1_step)
  parameter_overview.log_parameter_overview(state.params, msg=f'trainable parameters ({config.phase})')
  writer.write_hparams({k: v for k, v in _flatten(config.to_dict()).items()
                        if isinstance(v, (int, float, str, bool))})

  train_step = train_lib.make_train_step(phase, tx, mesh)
  eval_step = train_lib.make_eval_step(phase, mesh) if config.eval_every_steps > 0 else None
  sample_fn = jax.jit(lambda v, r: phase.sample(v, r, config.num_samples, config.sampling.temperature))
  report = periodic_actions.ReportProgress(num_train_steps=num_steps, writer=writer)
  batches = data_lib.train_iterator(config.data, config.batch_size, config.seed, start_step)

  history, accumulated = [], []
  best_val, evals_without_improvement = math.inf, 0
  step = start_step
  train_start = time.time()
  while step < num_steps:
    state, metrics = train_step(state, train_lib.shard_batch(next(batches), mesh), rng_train)
    step += 1
    accumulated.append(metrics)
    report(step)
    if step % config.log_every_steps == 0 or step == num_steps:
      summary = {k: float(np.mean([float(m[k]) for m in accumulated])) for k in accumulated[0]}
      if not all(np.isfinite(v) for v in summary.values()):
        raise TrainingError(f'non-finite training metrics at step {step}: {summary}')
      writer.write_scalars(step, {f'train/{k}': v for k, v in summary.items()})
      history.append((step, summary))
      accumulated = []
    if eval_step is not None and step % config.eval_every_steps == 0:
      val = _evaluate(eval_step, state.variables(), config, mesh, rng_sample)
      writer.write_scalars(step, {'validation/loss': val, 'validation/bpd':
                                  float(phase.bits_per_dim(jnp.array([val]))[0])})
      if val < best_val:
        best_val, evals_without_improvement = val, 0
        train_lib.save_checkpoint(manager, state)
      else:
        evals_without_improvement += 1
        if config.early_stopping_patience and evals_without_improvement >= config.early_stopping_patience:
          logging.info('early stopping at step %d (best validation loss %.4f)', step, best_val)
          break
    if step % config.checkpoint_every_steps == 0 or step == num_steps:
      if not (config.early_stopping_patience and eval_step is not None):
        train_lib.save_checkpoint(manager, state)
    if step % config.sample_every_steps == 0 or step == num_steps:
      samples = np.asarray(sample_fn(state.variables(), rng_sample))
      train_lib.save_png(os.path.join(out_dir, 'samples', f'step_{step}.png'), samples)
  writer.flush()
  if jax.process_index() == 0 and step > start_step:
    seconds = time.time() - train_start
    logging.info('%s: %d steps in %.1f s', config.phase, step - start_step, seconds)
  return history


def _dequantize_fixed(images, n_bits):
  from vaeglow_jax import losses
  return losses.dequantize(images, None, n_bits)


def _evaluate(eval_step, variables, config, mesh, rng):
  total, count = 0.0, 0
  for images, mask in data_lib.eval_iterator(config.data, 'validation', config.batch_size,
                                             config.eval_max_examples):
    s, n = eval_step(variables, train_lib.shard_batch(images, mesh), train_lib.shard_batch(mask, mesh),
                     jax.random.fold_in(rng, count))
    total, count = total + float(s), count + int(n)
  return total / max(count, 1)


def _flatten(d, prefix=''):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out
