"""`train_and_evaluate(config, workdir)`: one trainer for every phase."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import traverse_util

from vaeglow_jax import data as data_lib
from vaeglow_jax import images as images_lib
from vaeglow_jax import phases
from vaeglow_jax import timing as timing_lib
from vaeglow_jax.config import checks as config_checks
from vaeglow_jax.config import resume
from vaeglow_jax.errors import WorkdirError
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import metric_writer as writer_lib
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.models import losses
from vaeglow_jax.runtime import distributed
from vaeglow_jax.runtime import failures
from vaeglow_jax.runtime import lock as lock_lib
from vaeglow_jax.runtime import sharding
from vaeglow_jax.runtime import signals as signals_lib
from vaeglow_jax.training import loop as loop_lib
from vaeglow_jax.training import train as train_lib

TrainingError = loop_lib.TrainingError
Preempted = loop_lib.Preempted


def _stage1_dir(config, workdir) -> str:
  """The phase-1 checkpoints directory; raises unless it holds a checkpoint (no collective)."""
  stage1_phase = phases.get_spec(config.phase).stage1
  directory = workdir_lib.checkpoints_dir(config.stage1_workdir or workdir, stage1_phase)
  if config.stage1_workdir and not workdir_lib.has_checkpoint(directory):
    stage1 = config.stage1_workdir.rstrip('/')
    if workdir_lib.has_checkpoint(files_lib.join(stage1, 'checkpoints')):  # DIR/<phase> itself
      raise TrainingError(
          f'stage1_workdir {stage1} is a phase folder (it holds checkpoints/): give the work '
          f'directory that contains {stage1_phase}/, e.g. '
          f'--config.stage1_workdir={files_lib.dirname(stage1)}.')
  if not workdir_lib.has_checkpoint(directory):
    raise TrainingError(
        f'phase {config.phase!r} needs a phase-1 checkpoint in {directory}; run phase '
        f'{stage1_phase} first (--config.phase={stage1_phase}) or point --config.stage1_workdir at '
        'its workdir.')
  stage1_dir = files_lib.dirname(directory)
  holder = lock_lib.lock_holder(stage1_dir, config.lock_stale_seconds)
  if holder is not None:  # its checkpoint would be a snapshot of a phase 1 still changing
    raise TrainingError(f'phase {stage1_phase} is still training in {stage1_dir} ({holder}); '
                        f'start phase {config.phase!r} when it has finished.')
  return directory


def _load_stage1(config, workdir, abstract_variables, keys):
  """Reads the phase-1 parameters for `keys` and checks them against this
  config's model (abstract_variables from jax.eval_shape). Returns ({key: params}, step)."""
  expected = abstract_variables['params']
  stage1 = phases.get_spec(config.phase).stage1
  loaded, step = checkpoints.load_checked(
      _stage1_dir(config, workdir), {'params': {k: expected[k] for k in keys if k in expected}},
      f'the phase-1 checkpoint of phase {config.phase!r}',
      f'run phase {stage1} first (--config.phase={stage1}).')
  return loaded['params'], step


def train_and_evaluate(config, workdir: str) -> list[tuple[int, dict]]:
  """Trains `config.phase` in workdir/<phase>/.

  Everything that can be checked is checked before the work directory is
  touched. Returns the logged training summaries of this run as
  [(step, {metric: mean})]. Raises TrainingError / DataError / WorkdirError for
  user errors and Preempted after a SIGTERM (a final checkpoint is written).
  """
  # The entry point has started the distributed runtime (distributed.initialize) if the config
  # asks for one: a check that fails on one host only ends them all.
  def checks():
    image_shape = config_checks.validate_config(config)
    mesh = sharding.make_mesh(config.num_devices or None)
    sharding.check_batch_size(config.batch_size, mesh)
    files_lib.check_writable(workdir)
    resume.check_resume_config(config, workdir)
    if phases.get_spec(config.phase).from_stage1:
      _stage1_dir(config, workdir)  # not the Orbax manager: a collective
      resume.check_stage1_config(config, workdir)
    train_split = config.data.train_split or data_lib.get_spec(config.data.name).train_split
    steps_per_epoch = max(1, data_lib.num_examples(config.data, train_split) // config.batch_size)
    num_steps = (config.num_train_steps if config.num_train_steps > 0
                 else config.num_epochs * steps_per_epoch)
    resume.check_not_past_the_end(config, workdir, num_steps)
    return image_shape, mesh, steps_per_epoch, num_steps

  image_shape, mesh, steps_per_epoch, num_steps = distributed.check_together(
      f'vaeglow_{config.phase}_checks', checks, distributed.config_fingerprint(config))
  spec = phases.get_spec(config.phase)
  phase = phases.build(config, image_shape)
  stage1 = None
  if spec.from_stage1:
    batch = jax.ShapeDtypeStruct((config.batch_size,) + tuple(image_shape), jnp.float32)
    abstract = jax.eval_shape(phase.init, jax.random.PRNGKey(0), batch)
    stage1 = _load_stage1(config, workdir, abstract, spec.from_stage1)
  out_dir = workdir_lib.phase_dir(workdir, config.phase)
  # Several processes: JAX's preemption notifier owns SIGTERM (see distributed.PreemptionSync).
  stop_signal = signals_lib.StopSignal(
      None if jax.process_count() == 1 else distributed.PreemptionSync())
  with contextlib.ExitStack() as held:
    # One lock per work directory, held by process 0; a lock it cannot take ends every process
    # with its line at once (the others would wait at their first collective).
    distributed.check_together(
        f'vaeglow_{config.phase}_locked',
        lambda: held.enter_context(lock_lib.phase_lock(out_dir, config.lock_stale_seconds))
        if distributed.is_primary() else None)
    stop = held.enter_context(stop_signal)
    try:
      return _train(config, phase, stage1, workdir, mesh, steps_per_epoch, num_steps, stop)
    except jax.errors.JaxRuntimeError:
      distributed.await_peer_verdict(config)  # a dead peer: the watchdog ends the process
      raise
    except Exception as e:
      unreachable = None if files_lib.is_local(workdir) else failures.unreachable_error(e)
      if unreachable is not None:
        raise WorkdirError(
            f'the bucket {files_lib.bucket_of(workdir)} did not answer '
            f'({failures.first_line(unreachable)}); rerun the same command when it is back: it '
            'resumes from the last complete checkpoint.') from e
      storage_error = failures.storage_error(e)
      if storage_error is None:
        raise
      raise _storage_failure(storage_error, workdir_lib.checkpoints_dir(workdir, config.phase),
                             out_dir) from e


def _storage_failure(error: OSError, checkpoints_dir: str, out_dir: str):
  """A WorkdirError for a storage that stopped the run (full, read-only), with the temporary
  folder of a save it cut short removed."""
  checkpoints.remove_temporaries(checkpoints_dir)
  steps = workdir_lib.finished_steps(checkpoints_dir)
  resume = (f'its last complete checkpoint, {files_lib.join(checkpoints_dir, str(steps[-1]))}'
            if steps else 'the start (no checkpoint was completed)')
  return WorkdirError(failures.storage_message(
      error, out_dir, checkpoints.step_bytes(checkpoints_dir), resume))


@dataclasses.dataclass
class _Run:
  """What the parts of a training run share: the config, the phase, where it writes."""
  config: Any
  phase: Any
  workdir: str
  mesh: Any

  @property
  def out_dir(self) -> str:
    return workdir_lib.phase_dir(self.workdir, self.config.phase)


def _train(config, phase, stage1, workdir, mesh, steps_per_epoch, num_steps, stop):
  """The training run after the checks: the initial (or resumed) state, the writers, the
  periodic actions, then the loop."""
  from clu import periodic_actions

  run = _Run(config, phase, workdir, mesh)
  manager = checkpoints.checkpoint_manager(workdir_lib.checkpoints_dir(workdir, config.phase),
                                           config.keep_checkpoints)
  rng_init, rng_train, rng_sample = jax.random.split(jax.random.PRNGKey(config.seed), 3)
  tx = train_lib.make_optimizer(config, steps_per_epoch)
  start_step, state, first, batches, finite = _initial_state(run, manager, stage1, tx, rng_init)
  # Logged once the checkpoint is read, so a damaged one is the only line a run prints.
  logging.info('%s: %s', config.phase, sharding.describe_mesh(mesh, config.batch_size))
  about_data = data_lib.describe(config.data)
  if about_data:
    logging.info('%s: %s', config.phase, about_data)

  primary = distributed.is_primary()
  if start_step >= num_steps:  # finished: nothing to train, and its record stays as it is
    logging.info('%s is already trained to step %d; nothing to do', run.out_dir, start_step)
    return []
  if primary:  # written only when training starts or continues, so it describes the checkpoints
    files_lib.write_text_atomic(workdir_lib.config_path(workdir, config.phase),
                                  config.to_json_best_effort(indent=2))
  writer = writer_lib.create_writer(run.out_dir, just_logging=not primary)
  _write_parameter_table(run, state.params, primary)
  writer.write_hparams({k: v for k, v in traverse_util.flatten_dict(config.to_dict(), sep='.').items()
                        if isinstance(v, (int, float, str, bool))})
  timing = timing_lib.StepTimer(workdir_lib.timing_path(workdir, config.phase), steps_per_epoch,
                                config.batch_size, len(mesh.devices.flat))
  loop_step, reset_sums = train_lib.make_loop_step(
      phase, tx, mesh, config.nonfinite == 'stop', config.max_consecutive_nonfinite)

  def last_checkpoint():
    last = manager.latest_step()
    if last is None:
      return 'none yet'
    path = files_lib.join(str(manager.directory), str(last))
    if last == start_step and not finite:  # the guard would otherwise call it "good"
      return f'{path}, whose parameters were already non-finite when restored (none is good)'
    return path

  train_loop = loop_lib.TrainLoop(
      loop_step, reset_sums, num_steps, config.log_every_steps,
      _actions(run, manager, writer, timing, rng_sample), writer=writer, timer=timing,
      stop=stop,
      max_train_seconds=config.max_train_seconds, nonfinite_policy=config.nonfinite,
      last_checkpoint=last_checkpoint,
      agree=distributed.agree if jax.process_count() > 1 else None,
      on_step=periodic_actions.ReportProgress(num_train_steps=num_steps, writer=writer),
      learning_rate=train_lib.learning_rate_schedule(config, steps_per_epoch))
  train_start = time.time()
  try:
    _, step, history = train_loop.run(state, train_lib.new_monitor(phase, mesh, state, first),
                                      (sharding.shard_batch(b, mesh) for b in batches),
                                      rng_train, start_step)
  finally:
    writer.close()
  if primary:
    timing.write()
  if step > start_step:
    logging.info('%s: %d steps in %.1f s', config.phase, step - start_step, time.time() - train_start)
  return history


def _initial_state(run, manager, stage1, tx, rng_init):
  """-> (start step, replicated TrainState, first global batch (sharded), the batch stream,
  whether the restored parameters are all finite).

  Initialised on the first global batch (ActNorm's data-dependent init), the phase-1
  parameters put in, then the newest checkpoint that verifies restored, if there is one."""
  config, mesh = run.config, run.mesh
  from_start = data_lib.train_iterator(config.data, config.batch_size, config.seed, 0)
  first_local = next(from_start)
  first = sharding.shard_batch(first_local, mesh)
  init_fn = jax.jit(lambda r, b: run.phase.init(r, losses.dequantize(b, None, run.phase.n_bits)),
                    out_shardings=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  variables = init_fn(rng_init, first)
  if stage1 is not None:
    variables = {**variables, 'params': {**variables['params'], **stage1[0]}}
  state = sharding.replicate(train_lib.create_state(variables, run.phase.spec.trainable, tx), mesh)
  start_step, state = _restore_newest_verified(run, manager, state)
  finite = True
  if start_step:
    logging.info('resumed %s from step %d', config.phase, start_step)
    finite = bool(jax.jit(_all_finite)(state.variables()))
    if not finite:
      logging.warning('the parameters restored from step %d are non-finite: that checkpoint was '
                      'saved from a diverged run', start_step)
    batches = data_lib.train_iterator(config.data, config.batch_size, config.seed, start_step)
  else:  # the first batch is also trained on
    batches = itertools.chain([first_local], from_start)
    if stage1 is not None:
      logging.info('phase-1 parameters %s restored from step %d and frozen', list(stage1[0]),
                   stage1[1])
  return start_step, state, first, batches, finite


def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _restore_newest_verified(run, manager, state):
  """-> (step, restored state), or (0, state) with no checkpoint. A damaged step is moved aside
  (checkpoints.move_aside: kept, never deleted) with one warning line and the step before it is
  tried, on every process alike; with on_damaged_checkpoint='stop' the first damaged one stops
  the run instead. When no checkpoint verifies, the run stops: starting over would silently
  throw the training away."""
  directory = str(manager.directory)
  moved = []
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      return step, checkpoints.read(manager, step, state)
    except checkpoints.DamagedCheckpoint as e:
      if run.config.on_damaged_checkpoint == 'stop':
        raise TrainingError(f'{e}; move that step folder aside to resume from the checkpoint '
                            'before it (or set --config.on_damaged_checkpoint=fall_back to have '
                            'the run do so).') from None
      where = checkpoints.damaged_dir(directory)
      if distributed.is_primary():
        where = checkpoints.move_aside(directory, step)
      distributed.barrier(f'moved_aside_{step}')
      manager.reload()
      logging.warning('%s; moved it to %s and resuming from the checkpoint before it', e, where)
      moved.append(step)
  if moved:
    raise TrainingError(
        f'no checkpoint of {directory} verifies: step(s) {", ".join(map(str, moved))} were '
        f'damaged and are kept in {checkpoints.damaged_dir(directory)}; '
        'restore them from a copy, or remove the checkpoints folder to train this phase again.')
  return 0, state


def _write_parameter_table(run, params, primary: bool) -> None:
  """The parameter table (clu's: every array's shape, size and statistics) goes to
  <phase>/parameters.txt, and the log gets one line with the count and where the table is."""
  from clu import parameter_overview
  path = files_lib.join(run.out_dir, 'parameters.txt')
  if primary:
    files_lib.write_text_atomic(path, parameter_overview.get_parameter_overview(params) + '\n')
  logging.info('%s: %s trainable parameters (table: %s)', run.config.phase,
               f'{int(parameter_overview.count_parameters(params)):,}', path)


def _actions(run, manager, writer, timing, rng_sample) -> list[loop_lib.Action]:
  """The periodic actions: validation (and early stopping), checkpoints, sample grids."""
  config = run.config
  checkpoint = _checkpoint_action(run, manager, writer, timing)
  actions = []
  if config.eval_every_steps > 0:
    actions.append(_validation_action(config, run.phase, run.mesh, rng_sample, writer,
                                      checkpoint.run))
  if not actions or config.early_stopping_patience <= 0:  # early stopping saves only the best
    actions.append(checkpoint)
  actions.append(_sample_action(run, writer, rng_sample))
  return actions


def _checkpoint_action(run, manager, writer, timing) -> loop_lib.Action:
  """A collective checkpoint every checkpoint_every_steps and on SIGTERM; process 0 also
  writes timing.json and flushes the events (to a bucket: metric_writer) with it."""

  def save(step, state, reason='periodic'):
    logging.info('saving checkpoint at step %d (%s)', step, reason)
    checkpoints.save_checkpoint(manager, state)  # collective: every process calls it
    if distributed.is_primary():
      timing.write()
      writer.flush()

  return loop_lib.Action('checkpoint', run.config.checkpoint_every_steps, save, at_stop=True)


def _sample_action(run, writer, rng) -> loop_lib.Action:
  """A grid of num_samples samples at sampling.temperature every sample_every_steps, to
  DIR/<phase>/samples/step_<N>.png and TensorBoard."""
  config = run.config
  sample_fn = jax.jit(lambda v, r: run.phase.sample(v, r, config.num_samples,
                                                    config.sampling.temperature))

  def sample(step, state):
    samples = np.asarray(sample_fn(state.variables(), rng))  # every process computes
    if distributed.is_primary():
      images_lib.save_grid(files_lib.join(run.out_dir, 'samples', f'step_{step}.png'), samples)
      writer.write_images(step, {'samples': images_lib.grid(samples)[None]})

  return loop_lib.Action('samples', config.sample_every_steps, sample)


def _validation_action(config, phase, mesh, rng, writer, save):
  """Validation loss every eval_every_steps; with early_stopping_patience > 0 it also
  saves on improvement and ends training after that many evaluations without one."""
  eval_step = train_lib.make_eval_step(phase, mesh)
  best = {'loss': math.inf, 'without_improvement': 0}
  patience = config.early_stopping_patience

  def run(step, state):
    val = _evaluate(eval_step, state.variables(), config, mesh, rng)
    writer.write_scalars(step, {'validation/loss': val,
                                'validation/bpd': float(phase.bits_per_dim(jnp.array([val]))[0])})
    if val < best['loss']:
      best.update(loss=val, without_improvement=0)
      if patience > 0:
        save(step, state, 'best validation loss')
      return False
    best['without_improvement'] += 1
    if patience > 0 and best['without_improvement'] >= patience:
      logging.info('early stopping at step %d (best validation loss %.4f kept)', step, best['loss'])
      return True
    return False

  return loop_lib.Action('validation', config.eval_every_steps, run, at_last=False)


def _evaluate(eval_step, variables, config, mesh, rng):
  total, count = 0.0, 0
  for images, mask in data_lib.eval_iterator(config.data, 'validation', config.batch_size,
                                             config.eval_max_examples):
    s, n = eval_step(variables, sharding.shard_batch(images, mesh), sharding.shard_batch(mask, mesh),
                     jax.random.fold_in(rng, count))
    total, count = total + float(s), count + int(n)
  return total / max(count, 1)
