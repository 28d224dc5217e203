"""Evaluation of a trained phase, orchestrated: `evaluate(config, workdir)` is what
`vaeglow-evaluate` runs. Every check (config against the checkpoint, FID weights, feature
extractor, device count) runs before anything is written; then the parts, each in its module:
loading (and chains), test bounds, samples (`sampling.draw_parts`) and their scores per
temperature, the Glow layer's measures, figures and timing.
Output: workdir/eval/metrics.json ({result key: metrics}) and figures in workdir/eval/<key>/.
"""

from __future__ import annotations

import tempfile
import time

import jax
import numpy as np

from vaeglow_jax import images as images_lib
from vaeglow_jax import phases
from vaeglow_jax import timing as timing_lib
from vaeglow_jax.config import checks as config_checks
from vaeglow_jax.evaluation import bounds
from vaeglow_jax.evaluation import figures
from vaeglow_jax.evaluation import glow_layer as glow_layer_lib
from vaeglow_jax.evaluation import loading
from vaeglow_jax.evaluation import sampling
from vaeglow_jax.evaluation import scoring
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.evaluation.metrics import scores as scores_lib
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.runtime import distributed
from vaeglow_jax.runtime import lock as lock_lib
from vaeglow_jax.runtime import sharding


def timing_metrics(config, workdir) -> dict:
  """Seconds per epoch (steady state) and training wall time of this phase and its phase 1."""
  out = {}
  own = timing_lib.read(workdir, config.phase)
  if own:
    out.update(seconds_per_epoch=own['seconds_per_epoch'], training_seconds=own['wall_seconds'],
               median_step_seconds=own['median_step_seconds'])
  total = out.get('training_seconds', 0.0)
  spec = phases.get_spec(config.phase)
  if spec.stage1:
    first = timing_lib.read(config.stage1_workdir or workdir, spec.stage1)
    if first:
      out['seconds_per_epoch_phase1'] = first['seconds_per_epoch']
      total += first['wall_seconds']
      if own and spec.epoch_time_with_stage1:  # the paper's Table 4: mean of the two phases
        out['seconds_per_epoch_mean_of_phases'] = (own['seconds_per_epoch']
                                                   + first['seconds_per_epoch']) / 2
  if total:
    out['total_training_seconds'] = total
  return out


def evaluate(config, workdir: str, log=print) -> dict:
  """Evaluates the latest checkpoint of config.phase in workdir; returns its metrics.

  With several processes (every process runs this with the same config), the test bounds are
  data parallel over all of them; the sample-based scores and figures are computed on each
  process from its own copy of the parameters (the same numbers everywhere), and only process
  0 writes into the work directory. The parts: checks, the model, test bounds, samples and
  their scores per temperature, the decoder's residuals, figures and timing, writing."""
  image_shape, mesh = _checks_on_every_process(config, workdir)
  phase, variables, metrics = _model(config, workdir, image_shape)
  _note_training_in_progress(config, workdir, metrics, log)
  spaces, notes = scoring.feature_spaces(config)  # before the bounds: a missing classifier fails early
  result_key = loading.result_name(config)
  out_dir = workdir_lib.eval_dir(workdir, result_key)
  rng = jax.random.PRNGKey(config.eval.seed)
  rng_bounds, rng_samples, rng_figures = jax.random.split(rng, 3)
  metrics.update(phase.scalar_stds(variables))
  start = time.time()
  # From host memory: JAX on CPU cannot copy one process's device buffers to another's.
  metrics.update(bounds.test_bounds(phase, sharding.replicate(jax.device_get(variables), mesh), config,
                             mesh, rng_bounds, log))
  log(f'test bounds done in {time.time() - start:.0f} s: '
      + ', '.join(f'{k}={v:.4f}' for k, v in metrics.items() if k.startswith('test_bpd')))
  # Sampling and scoring are per process: the parameters on this process's first device.
  variables = jax.device_put(variables, jax.local_devices()[0])
  if not distributed.is_primary():  # the same figures, written where nobody reads them
    # (removed when `scratch` is collected, at the latest when evaluate returns or raises).
    scratch = tempfile.TemporaryDirectory(prefix='vaeglow_eval_')
    out_dir = scratch.name
  # Test images: the FID reference, and the sharpness reference of the Glow-layer measures.
  reference = (scoring.test_images(config, config.eval.max_test_examples)
               if spaces or phase.spec.use_glow else None)
  sweep = _temperature_sweep(config, phase, metrics, notes)
  by_temperature, glow_layer, exported = _scores_by_temperature(
      phase, variables, config, spaces, reference, sweep, rng_samples, out_dir, metrics, log)
  metrics.update(_residual_metrics(phase, variables, config, reference, glow_layer, rng))
  metrics.update(_reconstruction_metrics(phase, variables, config, reference, out_dir))
  metrics.update(scoring.score_metrics(config, spaces, by_temperature, sweep))
  metrics.update(timing_metrics(config, workdir))
  metrics['figures'] = figures.model_figures(phase, variables, rng_figures, config, out_dir)
  metrics['figures']['training_curves'] = figures.training_curves(workdir, out_dir)
  metrics['figures']['samples'] = [f'samples_T{t:g}.png' for t in sweep]
  metrics['exported_samples'] = exported
  metrics['notes'] = notes
  metrics['eval_seconds'] = time.time() - start
  if distributed.is_primary():
    write_metrics(workdir, result_key, metrics)
  for key, why in notes.items():
    log(f'{key}: {why}')
  return metrics


def _checks_on_every_process(config, workdir: str):
  """Every check before the first collective, on every process together -> (image shape, mesh).
  The entry point has started the distributed runtime if the config asks for one, so a check
  that fails on one process ends them all."""
  def checks():
    image_shape = config_checks.validate_config(config)
    config_checks.check_eval(config.eval)
    mesh = sharding.make_mesh(config.num_devices or None)
    sharding.check_batch_size(config.eval.batch_size, mesh, 'eval.batch_size')
    loading.check_config_matches(config, workdir)
    loading.checkpoints_dir_of(config, workdir)  # not the Orbax manager: a collective
    loading.check_prior_phase(config, workdir)
    files_lib.check_writable(workdir)
    return image_shape, mesh
  return distributed.check_together(f'vaeglow_eval_{config.phase}_checks', checks,
                                    distributed.config_fingerprint(config))


def _note_training_in_progress(config, workdir: str, metrics: dict, log) -> None:
  """Says so (one log line, and metrics['evaluated_while_training']) when config.phase is still
  being trained: its lock is held by a live run, so the checkpoint evaluated is the newest
  finished one, not the last the run will write."""
  holder = lock_lib.lock_holder(workdir_lib.phase_dir(workdir, config.phase),
                                   config.lock_stale_seconds)
  if holder:
    metrics['evaluated_while_training'] = True
    log(f'note: phase {config.phase!r} is still being trained ({holder}); this evaluates its '
        f'newest finished checkpoint, step {metrics["checkpoint_step"]}.')


def _model(config, workdir: str, image_shape):
  """(phase, its checked variables, the metrics that name them): config.phase's latest
  checkpoint, or the chain with eval.prior_phase's prior."""
  phase = phases.build(config, image_shape)
  variables, step = loading.load_variables(config, workdir, phase)
  # Each part's step and fingerprint digest: exactly which checkpoints the numbers come from.
  metrics = {'phase': config.phase, 'checkpoint_step': step, 'dataset': config.data.name,
             'checkpoint_fingerprint': checkpoints.digest(loading.checkpoints_dir_of(config, workdir), step)}
  if loading.result_name(config) != config.phase:
    phase, variables, prior_step = loading.load_chain(config, workdir, variables, image_shape)
    prior_dir = workdir_lib.checkpoints_dir(workdir, config.eval.prior_phase)
    metrics.update(prior_phase=config.eval.prior_phase, prior_checkpoint_step=prior_step,
                   prior_checkpoint_fingerprint=checkpoints.digest(prior_dir, prior_step))
  return phase, variables, metrics


def _temperature_sweep(config, phase, metrics: dict, notes: dict) -> list[float]:
  """The temperatures to sample at (config.sampling.temperature among them)."""
  temperatures = [float(t) for t in config.eval.temperatures]
  sweep = temperatures if phase.temperature_matters else [float(config.sampling.temperature)]
  if config.sampling.temperature not in sweep:
    sweep.append(float(config.sampling.temperature))
  metrics[keys.TEMPERATURE] = float(config.sampling.temperature)
  metrics[keys.NUM_FID_SAMPLES] = int(config.eval.num_fid_samples)
  if not phase.temperature_matters:
    notes['temperature_sweep'] = 'samples of this model do not depend on the temperature'
  return sweep


def _scores_by_temperature(phase, variables, config, spaces, reference, sweep, rng, out_dir,
                           metrics, log):
  """Per temperature: samples (grid and npz in out_dir) and their scores in every feature space;
  for a Glow layer also x_tilde's and the decoder mean's, and its effect on sharpness.
  -> (space -> 'T' -> scores, the Glow-layer measures, the exported file names)."""
  e = config.eval
  if spaces:
    metrics[keys.NUM_FID_REFERENCE_IMAGES] = int(len(reference))
    references = {name: scores_lib.reference(scoring.features(fn, reference, e.batch_size))
                  for name, (fn, _) in spaces.items()}
  by_temperature = {name: {} for name in spaces}
  glow_layer = {'x_tilde': {name: {} for name in spaces}, 'decoder_mean': {}, 'effect': {}}
  files_lib.make_dirs(out_dir)
  exported = []
  start = time.time()
  for done, t in enumerate(sweep, 1):
    codes = sampling.draw_parts(phase, variables, rng, e.num_fid_samples, t, e.batch_size)
    exported.append(sampling.export_samples(files_lib.join(out_dir, f'samples_T{t:g}.npz'),
                                            codes))
    samples = {k: v.astype(np.float32) / 255.0 for k, v in codes.items()}  # as scored and saved
    images_lib.save_grid(files_lib.join(out_dir, f'samples_T{t:g}.png'),
                         samples['x'][:e.num_grid_samples])
    for name, (fn, _) in spaces.items():
      by_temperature[name][f'{t:g}'] = scores_lib.score(references[name],
                                                        scoring.features(fn, samples['x'], e.batch_size))
    if 'x_tilde' in samples:  # the same noise before the Glow layer, and the decoder mean
      for name, (fn, _) in spaces.items():
        glow_layer['x_tilde'][name][f'{t:g}'] = scores_lib.score(
            references[name], scoring.features(fn, samples['x_tilde'], e.batch_size))
        if name not in glow_layer['decoder_mean']:  # does not depend on T
          glow_layer['decoder_mean'][name] = scores_lib.score(
              references[name], scoring.features(fn, samples['decoder_mean'], e.batch_size))
      glow_layer['effect'][f'{t:g}'] = glow_layer_lib.glow_layer_effect(samples, reference)
    for name in spaces:
      line = f'T={t:g} {name}: {scoring.describe(by_temperature[name][f"{t:g}"])}'
      if 'x_tilde' in samples:
        line += f'; x_tilde: {scoring.describe(glow_layer["x_tilde"][name][f"{t:g}"])}'
      log(line)
    log(f'samples and scores at T={t:g}: ' + timing_lib.progress(
        done, len(sweep), time.time() - start, 'temperatures'))
  return by_temperature, glow_layer, exported


def _residual_metrics(phase, variables, config, reference, glow_layer, rng) -> dict:
  """The Glow layer's measures with the residual f removes, or, without a Glow layer, how far
  the decoder means are from test images (their own encodings)."""
  if glow_layer['effect']:
    glow_layer['residual'] = glow_layer_lib.glow_layer_residuals(
        phase, variables, reference, jax.random.fold_in(rng, 3), config.eval.batch_size)
    return {keys.GLOW_LAYER: glow_layer}
  if reference is not None and hasattr(phase, 'base_residuals'):
    residual = glow_layer_lib.glow_layer_residuals(phase, variables, reference, jax.random.fold_in(rng, 3),
                                    config.eval.batch_size)
    return {'rms_x_minus_decoder_mean': residual['rms_x_minus_mean'],
            'normalised_sq_x': residual['normalised_sq_x']}
  return {}


def _reconstruction_metrics(phase, variables, config, reference, out_dir: str) -> dict:
  """{'reconstruction': errors and figure} of the test images (figures.reconstructions); the
  figure also goes to TensorBoard (an event file in out_dir)."""
  images = reference if reference is not None else scoring.test_images(config, config.eval.max_test_examples)
  result, grid = figures.reconstructions(phase, variables, images, config.eval.batch_size, out_dir)
  if grid is None:
    return {}
  if distributed.is_primary():
    from vaeglow_jax.io import metric_writer
    writer = metric_writer.create_writer(out_dir, just_logging=False)
    writer.write_images(0, {'reconstructions': grid[None]})
    writer.close()
  return {keys.RECONSTRUCTION: result}


def write_metrics(workdir: str, phase_name: str, metrics: dict) -> str:
  """Merges {phase: metrics} into workdir/eval/metrics.json atomically; returns its path."""
  path = workdir_lib.metrics_path(workdir)
  everything = workdir_lib.read_metrics(workdir)
  everything[phase_name] = metrics
  files_lib.write_json_atomic(path, everything, indent=2)
  return path
