"""Evaluation of a trained phase: test bits/dim bounds, FID, temperature sweep, chains, figures.

`evaluate(config, workdir)` is what `python -m experiments.evaluate` runs; the
pieces (`test_bounds`, `generate`, `fid_against`, ...) are pure enough to reuse.
Everything that can be checked (config against the checkpoint, FID weights,
feature extractor, device count) is checked before anything is written.
Output: workdir/eval/metrics.json ({phase: metrics}) and figures in workdir/eval/<phase>/.
"""

from __future__ import annotations

import json
import math
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util
from jax.sharding import NamedSharding, PartitionSpec as P

from vaeglow_jax import sharding
from vaeglow_jax.errors import UserError
from vaeglow_jax import checkpoints
from vaeglow_jax import data as data_lib
from vaeglow_jax import distributed
from vaeglow_jax.evaluation import figures
from vaeglow_jax.evaluation import gain_decomposition
from vaeglow_jax import images as images_lib
from vaeglow_jax.models import losses
from vaeglow_jax import phases
from vaeglow_jax import reliability
from vaeglow_jax.config import checks as config_checks
from vaeglow_jax.config import history
from vaeglow_jax import timing as timing_lib
from vaeglow_jax import workdir as workdir_lib
from vaeglow_jax.evaluation.metrics import feature_extractor as fe_lib
from vaeglow_jax.evaluation.metrics import inception
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.evaluation.metrics import scores as scores_lib
from vaeglow_jax.evaluation.metrics import sharpness


class EvaluationError(UserError, ValueError):
  """A problem the user can fix; the message says how."""


# The errors a user can fix (one line, exit 2): every errors.UserError.


# Loading ------------------------------------------------------------------------

def _json_roundtrip(value):
  return json.loads(json.dumps(value, default=list))


def check_config_matches(config, workdir: str) -> None:
  """Compares config's model and data with the config the phase was trained with."""
  saved = workdir_lib.saved_config(workdir, config.phase)
  current = _json_roundtrip(config.to_dict())
  for section in ('model', 'data'):
    for key, value in traverse_util.flatten_dict(current[section], sep='.').items():
      if section == 'data' and key not in ('name', 'resize', 'n_bits'):
        continue
      saved_flat = traverse_util.flatten_dict(saved.get(section, {}), sep='.')
      if key not in saved_flat:  # a key newer than the run: the parameter check below still applies
        continue
      saved_value = saved_flat[key]
      if saved_value != value:
        raise EvaluationError(f'{section}.{key} is {value!r} but phase {config.phase!r} was trained '
                              f'with {saved_value!r}: pass --config.{section}.{key}={saved_value} '
                              '(evaluate with the training config).')


def checkpoints_dir_of(config, workdir: str) -> str:
  """config.phase's checkpoints directory; raises unless it holds a checkpoint (no collective)."""
  directory = workdir_lib.checkpoints_dir(workdir, config.phase)
  if not workdir_lib.has_checkpoint(directory):
    raise EvaluationError(f'no checkpoint in {directory}; train phase {config.phase!r} first.')
  return directory


def load_variables(config, workdir: str, phase: phases.Phase):
  """The latest checkpoint's variables of config.phase, checked against the model. -> (variables, step)."""
  return checkpoints.load_checked(checkpoints_dir_of(config, workdir), abstract_variables(phase),
                                  f'the checkpoint of phase {config.phase!r}',
                                  f'train phase {config.phase!r} first.')


def abstract_variables(phase: phases.Phase):
  """The shapes and dtypes of phase's model variables (jax.eval_shape of its init)."""
  shape = (2,) + phase.image_shape
  return jax.eval_shape(phase.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct(shape, jnp.float32))


def fit_to_model(phase: phases.Phase, variables, where: str):
  """variables (restored arrays) checked against phase's model and cast to its dtypes
  (checkpoints.fit); extra keys dropped. where: named in the error."""
  return checkpoints.fit(variables, abstract_variables(phase), where)


def result_name(config) -> str:
  """The metrics.json key and eval/ folder of an evaluation: the phase, or 'PHASE+PRIOR' when it
  samples from another phase's latent prior (eval.prior_phase)."""
  return keys.result_key(config.phase, config.eval.get('prior_phase', ''))


def check_prior_phase(config, workdir: str) -> None:
  """eval.prior_phase names a trained phase whose prior config.phase's model can sample from."""
  prior_phase = config.eval.get('prior_phase', '')
  if not prior_phase:
    return
  if config.phase not in phases.VAE_PHASES or prior_phase not in phases.PRIOR_KEYS:
    raise EvaluationError(f'--config.eval.prior_phase={prior_phase} with phase {config.phase!r}: '
                          f'a chain is a VAE phase ({", ".join(phases.VAE_PHASES)}) sampled from the prior '
                          f'of one of {", ".join(phases.PRIOR_KEYS)}; pick one of those.')
  directory = workdir_lib.checkpoints_dir(workdir, prior_phase)
  if not workdir_lib.has_checkpoint(directory):
    raise EvaluationError(f'no checkpoint in {directory} for --config.eval.prior_phase='
                          f'{prior_phase}; train phase {prior_phase!r} first.')


def load_chain(config, workdir: str, variables, image_shape):
  """config.phase's variables with the latent prior of eval.prior_phase (same work directory)
  put in -> (the chain's Phase, its variables, the prior checkpoint's step). Both phases must
  hold the same phase-1 encoder and decoder (bitwise), else one EvaluationError."""
  prior_config = history.trained_config(workdir, config.eval.prior_phase, config)
  prior_model = phases.build(prior_config, image_shape)
  prior_variables, prior_step = load_variables(prior_config, workdir, prior_model)
  for key in ('encoder', 'decoder'):
    same = jax.tree_util.tree_all(jax.tree_util.tree_map(
        lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))),
        variables['params'][key], prior_variables['params'][key]))
    if not same:
      raise EvaluationError(f'phases {config.phase!r} and {prior_config.phase!r} in {workdir} were '
                            f'trained on different phase-1 models (their {key}s differ); retrain '
                            f'{prior_config.phase!r} on the same phase 1.')
  key = phases.PRIOR_KEYS[prior_config.phase]
  merged = dict(variables)
  for collection, tree in prior_variables.items():
    if key in tree:
      merged[collection] = {**merged.get(collection, {}), key: tree[key]}
  chain = phases.build_chain(config, prior_config, image_shape)
  return chain, fit_to_model(chain, merged, f'the chain {result_name(config)}'), prior_step


# Bounds -------------------------------------------------------------------------

def make_bounds_step(phase: phases.Phase, mesh, num_samples: int):
  """jit (variables, uint8 images (B, H, W, C), rng) -> per-example (log-likelihood
  ELBO estimate, IWAE bound), each (B,) in nats on dequantised images."""
  def step(variables, images, rng):
    rng_deq, rng_w = jax.random.split(rng)
    x = losses.dequantize(images, rng_deq, phase.n_bits)
    log_w = phase.log_weights(variables, x, rng_w, num_samples)
    return jnp.mean(log_w, axis=0), losses.iw_log_likelihood(log_w)
  replicated, batch = NamedSharding(mesh, P()), NamedSharding(mesh, P('data'))
  return jax.jit(step, in_shardings=(replicated, batch, replicated), out_shardings=(batch, batch))


def test_bounds(phase, variables, config, mesh, rng, log=print) -> dict:
  """Test-split bits/dim: ELBO and IW bounds (or the exact density for the Glow baseline)."""
  from jax.experimental import multihost_utils
  e = config.eval
  num_samples = 1 if phase.exact_density else e.iw_samples
  step = make_bounds_step(phase, mesh, num_samples)
  elbo, iw = [], []
  start = time.time()
  total = data_lib.num_examples(config.data, 'test')
  total = min(total, e.max_test_examples) if e.max_test_examples else total
  for i, (images, mask) in enumerate(data_lib.eval_iterator(
      config.data, 'test', e.batch_size, e.max_test_examples or None)):
    a, b = step(variables, sharding.shard_batch(images, mesh), jax.random.fold_in(rng, i))
    a, b, m = (np.asarray(multihost_utils.process_allgather(t, tiled=True)) for t in
               (a, b, sharding.shard_batch(mask, mesh)))
    elbo.append(a[m])
    iw.append(b[m])
    if i % 10 == 0:
      log('test bounds: ' + timing_lib.progress(sum(len(x) for x in elbo), total,
                                                time.time() - start, 'images'))
  elbo, iw = np.concatenate(elbo), np.concatenate(iw)
  bpd_elbo = float(np.mean(phase.bits_per_dim(-elbo)))
  bpd_iw = float(np.mean(phase.bits_per_dim(-iw)))
  out = {'num_test_examples': int(elbo.size)}
  if phase.exact_density:
    out[keys.TEST_BPD_EXACT] = bpd_elbo
  else:
    out.update({keys.TEST_BPD_ELBO: bpd_elbo, keys.TEST_BPD_IW: bpd_iw,
                keys.IW_SAMPLES: int(num_samples)})
  return out


# Samples and features -------------------------------------------------------------

to_uint8 = images_lib.to_uint8  # [0, 1] floats -> the nearest 8-bit codes


def quantize(images: np.ndarray) -> np.ndarray:
  """[0, 1] floats -> the nearest 8-bit level, as a saved image would hold them (same dtype)."""
  return np.round(np.clip(images, 0.0, 1.0) * 255.0) / 255.0


def generate(phase, variables, rng, num: int, temperature: float, batch: int) -> dict:
  """{'x': (num, H, W, C) quantised samples in [0, 1]} plus, for phases with a Glow layer,
  'x_tilde' and 'decoder_mean' of the same noise (Phase.decode_parts); drawn in batches."""
  def sample(v, r):
    return phase.decode_parts(v, *phase.sample_noise(r, batch), temperature)
  sample = jax.jit(sample)
  chunks = [jax.device_get(sample(variables, jax.random.fold_in(rng, i)))
            for i in range(math.ceil(num / batch))]
  return {k: quantize(np.concatenate([c[k] for c in chunks])[:num]) for k in chunks[0]}


def export_samples(path: str, samples: dict) -> str:
  """Writes the scored samples as uint8 (N, H, W, C) arrays (one per key) to an .npz."""
  workdir_lib.write_npz_atomic(path, {k: to_uint8(v) for k, v in samples.items()})
  return workdir_lib.basename(path)


def glow_layer_effect(samples: dict, reference_images: np.ndarray) -> dict:
  """What the Glow layer does to its own decoder samples (one temperature):
  RMS of x - x_tilde and of x_tilde - decoder mean (pixel units), their ratio (None at T=0,
  where x_tilde is the mean), and each image set's Laplacian energy relative to the test
  images (metrics.sharpness)."""
  x, x_tilde, mean = samples['x'], samples['x_tilde'], samples['decoder_mean']
  change = float(np.sqrt(np.mean((x - x_tilde) ** 2)))
  noise = float(np.sqrt(np.mean((x_tilde - mean) ** 2)))
  out = {'rms_x_minus_x_tilde': change, 'rms_x_tilde_minus_mean': noise,
         'change_over_noise': change / noise if noise > 0 else None}
  for key in ('x', 'x_tilde', 'decoder_mean'):
    out[f'hf_energy_{key}'] = sharpness.relative_energy(samples[key], reference_images)
  return out


def glow_layer_residuals(phase, variables, images: np.ndarray, rng, batch: int) -> dict:
  """What the Glow layer f explains of the decoder's residual on test images (T-free):
  RMS of x - g_mu(z) and of f(x) - g_mu(z) (pixel units, z ~ q(z|x)), the share of the squared
  residual that f removes, both residuals' mean square in decoder standard deviations
  (Phase.base_residuals; 1 for a calibrated decoder), and the layer's gain in log p(x|z) in
  bits/dim split into the Gaussian term's and the log-determinant's (and the latter's share),
  which a rescale moves at will, and into parts it cannot move (gain_decomposition.decompose).
  images: (n, H, W, C) in [0, 1]."""
  step = jax.jit(lambda v, b, r: phase.base_residuals(
      v, losses.dequantize(b, jax.random.fold_in(r, 1), phase.n_bits), r))
  codes = to_uint8(images)
  parts = [jax.device_get(step(variables, codes[i:i + batch], jax.random.fold_in(rng, i)))
           for i in range(0, len(codes), batch)]
  mean = {k: float(np.mean(np.concatenate([p[k] for p in parts]))) for k in parts[0]}
  # The Glow layer's gain in log p(x|z) = log N(f(x); mu, sigma) + log|det df/dx|, split in two,
  # in bits/dim: the Gaussian term's (residuals shrunk in sigma units) and the log-determinant's.
  gaussian = 0.5 * (mean['normalised_sq_x'] - mean['normalised_sq_f_x']) / math.log(2)
  logdet = mean['logdet_per_dim'] / math.log(2)
  return {'rms_x_minus_mean': math.sqrt(mean['sq_x']),
          'rms_f_x_minus_mean': math.sqrt(mean['sq_f_x']),
          'residual_removed': 1.0 - mean['sq_f_x'] / mean['sq_x'],
          'normalised_sq_x': mean['normalised_sq_x'],
          'normalised_sq_f_x': mean['normalised_sq_f_x'],
          'gain_bpd_gaussian': gaussian, 'gain_bpd_logdet': logdet,
          'logdet_share_of_gain': logdet / (gaussian + logdet) if gaussian + logdet else None,
          **gain_decomposition.decompose(mean['normalised_sq_x'], mean['normalised_sq_f_x'],
                                         mean['logdet_per_dim'])}


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


# Timing -------------------------------------------------------------------------

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


# The whole evaluation ------------------------------------------------------------

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
  spaces, notes = feature_spaces(config)  # before the bounds: a missing classifier fails early
  result_key = result_name(config)
  out_dir = workdir_lib.eval_dir(workdir, result_key)
  rng = jax.random.PRNGKey(config.eval.seed)
  rng_bounds, rng_samples, rng_figures = jax.random.split(rng, 3)
  metrics.update(phase.scalar_stds(variables))
  start = time.time()
  # From host memory: JAX on CPU cannot copy one process's device buffers to another's.
  metrics.update(test_bounds(phase, sharding.replicate(jax.device_get(variables), mesh), config,
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
  reference = (test_images(config, config.eval.max_test_examples)
               if spaces or phase.spec.use_glow else None)
  sweep = _temperature_sweep(config, phase, metrics, notes)
  by_temperature, glow_layer, exported = _scores_by_temperature(
      phase, variables, config, spaces, reference, sweep, rng_samples, out_dir, metrics, log)
  metrics.update(_residual_metrics(phase, variables, config, reference, glow_layer, rng))
  metrics.update(_reconstruction_metrics(phase, variables, config, reference, out_dir))
  metrics.update(_score_metrics(config, spaces, by_temperature, sweep))
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
    check_config_matches(config, workdir)
    checkpoints_dir_of(config, workdir)  # not the Orbax manager: a collective
    check_prior_phase(config, workdir)
    reliability.check_writable(workdir)
    return image_shape, mesh
  return distributed.check_together(f'vaeglow_eval_{config.phase}_checks', checks,
                                    distributed.config_fingerprint(config))


def _note_training_in_progress(config, workdir: str, metrics: dict, log) -> None:
  """Says so (one log line, and metrics['evaluated_while_training']) when config.phase is still
  being trained: its lock is held by a live run, so the checkpoint evaluated is the newest
  finished one, not the last the run will write."""
  holder = reliability.lock_holder(workdir_lib.phase_dir(workdir, config.phase),
                                   config.lock_stale_seconds)
  if holder:
    metrics['evaluated_while_training'] = True
    log(f'note: phase {config.phase!r} is still being trained ({holder}); this evaluates its '
        f'newest finished checkpoint, step {metrics["checkpoint_step"]}.')


def _model(config, workdir: str, image_shape):
  """(phase, its checked variables, the metrics that name them): config.phase's latest
  checkpoint, or the chain with eval.prior_phase's prior."""
  phase = phases.build(config, image_shape)
  variables, step = load_variables(config, workdir, phase)
  # Each part's step and fingerprint digest: exactly which checkpoints the numbers come from.
  metrics = {'phase': config.phase, 'checkpoint_step': step, 'dataset': config.data.name,
             'checkpoint_fingerprint': checkpoints.digest(checkpoints_dir_of(config, workdir), step)}
  if result_name(config) != config.phase:
    phase, variables, prior_step = load_chain(config, workdir, variables, image_shape)
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
    references = {name: scores_lib.reference(features(fn, reference, e.batch_size))
                  for name, (fn, _) in spaces.items()}
  by_temperature = {name: {} for name in spaces}
  glow_layer = {'x_tilde': {name: {} for name in spaces}, 'decoder_mean': {}, 'effect': {}}
  workdir_lib.make_dirs(out_dir)
  exported = []
  start = time.time()
  for done, t in enumerate(sweep, 1):
    samples = generate(phase, variables, rng, e.num_fid_samples, t, e.batch_size)
    images_lib.save_grid(workdir_lib.join(out_dir, f'samples_T{t:g}.png'),
                         samples['x'][:e.num_grid_samples])
    exported.append(export_samples(workdir_lib.join(out_dir, f'samples_T{t:g}.npz'), samples))
    for name, (fn, _) in spaces.items():
      by_temperature[name][f'{t:g}'] = scores_lib.score(references[name],
                                                        features(fn, samples['x'], e.batch_size))
    if 'x_tilde' in samples:  # the same noise before the Glow layer, and the decoder mean
      for name, (fn, _) in spaces.items():
        glow_layer['x_tilde'][name][f'{t:g}'] = scores_lib.score(
            references[name], features(fn, samples['x_tilde'], e.batch_size))
        if name not in glow_layer['decoder_mean']:  # does not depend on T
          glow_layer['decoder_mean'][name] = scores_lib.score(
              references[name], features(fn, samples['decoder_mean'], e.batch_size))
      glow_layer['effect'][f'{t:g}'] = glow_layer_effect(samples, reference)
    for name in spaces:
      line = f'T={t:g} {name}: {_describe(by_temperature[name][f"{t:g}"])}'
      if 'x_tilde' in samples:
        line += f'; x_tilde: {_describe(glow_layer["x_tilde"][name][f"{t:g}"])}'
      log(line)
    log(f'samples and scores at T={t:g}: ' + timing_lib.progress(
        done, len(sweep), time.time() - start, 'temperatures'))
  return by_temperature, glow_layer, exported


def _residual_metrics(phase, variables, config, reference, glow_layer, rng) -> dict:
  """The Glow layer's measures with the residual f removes, or, without a Glow layer, how far
  the decoder means are from test images (their own encodings)."""
  if glow_layer['effect']:
    glow_layer['residual'] = glow_layer_residuals(
        phase, variables, reference, jax.random.fold_in(rng, 3), config.eval.batch_size)
    return {keys.GLOW_LAYER: glow_layer}
  if reference is not None and hasattr(phase, 'base_residuals'):
    residual = glow_layer_residuals(phase, variables, reference, jax.random.fold_in(rng, 3),
                                    config.eval.batch_size)
    return {'rms_x_minus_decoder_mean': residual['rms_x_minus_mean'],
            'normalised_sq_x': residual['normalised_sq_x']}
  return {}


def _reconstruction_metrics(phase, variables, config, reference, out_dir: str) -> dict:
  """{'reconstruction': errors and figure} of the test images (figures.reconstructions); the
  figure also goes to TensorBoard (an event file in out_dir)."""
  images = reference if reference is not None else test_images(config, config.eval.max_test_examples)
  result, grid = figures.reconstructions(phase, variables, images, config.eval.batch_size, out_dir)
  if grid is None:
    return {}
  if distributed.is_primary():
    from vaeglow_jax import metric_writer
    writer = metric_writer.create_writer(out_dir, just_logging=False)
    writer.write_images(0, {'reconstructions': grid[None]})
    writer.close()
  return {keys.RECONSTRUCTION: result}


def _score_metrics(config, spaces, by_temperature, sweep) -> dict:
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


def _describe(scores: dict) -> str:
  return (f"FID {scores['fid']:.2f}, KID {scores['kid']:.4g}, "
          f"P/R {scores['precision']:.3f}/{scores['recall']:.3f}")


def write_metrics(workdir: str, phase_name: str, metrics: dict) -> str:
  """Merges {phase: metrics} into workdir/eval/metrics.json atomically; returns its path."""
  path = workdir_lib.metrics_path(workdir)
  everything = workdir_lib.read_metrics(workdir)
  everything[phase_name] = metrics
  workdir_lib.write_json_atomic(path, everything, indent=2)
  return path

