"""Evaluation: bounds (IW <= ELBO in bits/dim), the evaluate command end to end, the report."""

import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from vaeglow_jax.presets import from_workdir
from tests.configs import tiny
from tests.helpers import finish, free_port, launch, process_flags, snapshot, workdir_files
from tests.xla_env import xla_flags
from vaeglow_jax.config import checks as config_checks
from vaeglow_jax.config import history
from vaeglow_jax.training import feature_extractor as fe_training
from vaeglow_jax.training.loop import TrainingError
from vaeglow_jax import phases
from vaeglow_jax.evaluation import evaluator as evaluation
from vaeglow_jax import images as images_lib
from vaeglow_jax.evaluation import loading
from vaeglow_jax.evaluation import scoring
from vaeglow_jax.models import losses
from vaeglow_jax.evaluation import report
from vaeglow_jax.evaluation.metrics import feature_extractor, inception
from vaeglow_jax.errors import WorkdirError

from tests.helpers import ROOT  # noqa: E402


def _config(phase='vae', **overrides):
  c = tiny.get_config()
  c.phase = phase
  c.update_from_flattened_dict(overrides)
  return c


@pytest.mark.parametrize('phase', ['vae', 'glow', 'second_stage'])
def test_iw_bound_is_never_worse_than_elbo_and_equal_for_one_sample(phase):
  config = _config(phase)
  ph = phases.build(config, (8, 8, 1))
  x = jax.random.uniform(jax.random.PRNGKey(0), (6, 8, 8, 1))
  variables = ph.init(jax.random.PRNGKey(1), x)
  rng = jax.random.PRNGKey(2)
  log_w = ph.log_weights(variables, x, rng, 16)
  assert log_w.shape == (16, 6)
  elbo_bpd = ph.bits_per_dim(-jnp.mean(log_w, 0))
  iw_bpd = ph.bits_per_dim(-losses.iw_log_likelihood(log_w))
  assert bool(jnp.all(iw_bpd <= elbo_bpd + 1e-6))
  assert bool(jnp.any(iw_bpd < elbo_bpd - 1e-4))  # strictly better somewhere
  one = ph.log_weights(variables, x, rng, 1)
  np.testing.assert_allclose(losses.iw_log_likelihood(one), jnp.mean(one, 0), rtol=1e-6)


def test_log_weights_agree_with_the_training_terms():
  """With the same noise, a log weight is log p(x|z) + log p(z) - log q(z|x) of the model call."""
  config = _config('glow')
  ph = phases.build(config, (8, 8, 1))
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 8, 8, 1))
  variables = ph.init(jax.random.PRNGKey(1), x)
  noise = jax.random.normal(jax.random.PRNGKey(3), (1, 4, config.model.latent_dim))
  from vaeglow_jax.models import model as model_lib
  log_w = model_lib.log_importance_weights(ph.vae, variables, x, noise, True)
  terms = ph.vae.apply(variables, x, True, noise[0])
  np.testing.assert_allclose(log_w[0], terms['log_weight'], rtol=1e-5)


def test_glow_baseline_bound_is_its_exact_density():
  config = _config('glow_baseline')
  ph = phases.build(config, (8, 8, 1))
  x = jax.random.uniform(jax.random.PRNGKey(0), (4, 8, 8, 1))
  variables = ph.init(jax.random.PRNGKey(1), x)
  log_w = ph.log_weights(variables, x, jax.random.PRNGKey(2), 8)
  assert log_w.shape == (1, 4)
  np.testing.assert_allclose(-log_w[0], ph.per_example(variables, x, None)['objective'], rtol=1e-6)


@pytest.fixture(scope='module')
def trained(tiny_run, tmp_path_factory):
  """conftest's tiny vae -> glow workdir, copied for this module's tests to evaluate into, and
  its tiny feature extractor (8x8 Fashion-MNIST)."""
  workdir = str(tmp_path_factory.mktemp('evaluate') / 'run')
  shutil.copytree(tiny_run[0], workdir)
  return workdir, tiny_run[1]


EXPECTED_KEYS = {'test_bpd_elbo', 'test_bpd_iw', 'iw_samples', 'num_test_examples',
                 'fid_fashion_mnist', 'fid_fashion_mnist_classifier_test_accuracy',
                 'fid_fashion_mnist_by_temperature', 'seconds_per_epoch', 'seconds_per_epoch_phase1',
                 'seconds_per_epoch_mean_of_phases', 'training_seconds', 'total_training_seconds',
                 'figures', 'notes', 'num_fid_samples', 'temperature',
                 'kid_fashion_mnist', 'kid_se_fashion_mnist', 'precision_fashion_mnist',
                 'recall_fashion_mnist', 'kid_fashion_mnist_by_temperature'}


@pytest.mark.slow
def test_evaluate_writes_every_metric_and_figure(trained):
  workdir, fe_dir = trained
  config = _config('glow', num_devices=1)
  config.eval.feature_extractor_dir = fe_dir
  lines = []
  metrics = evaluation.evaluate(config, workdir, log=lines.append)
  assert EXPECTED_KEYS <= set(metrics)
  # Progress: the test bounds by images, the samples by temperatures, each with a time left.
  assert any(line.startswith('test bounds: 8/32 images') and 'ETA' in line for line in lines)
  assert any(line.startswith('samples and scores at T=0: 1/5 temperatures') and 'ETA' in line
             for line in lines), lines
  assert metrics['test_bpd_iw'] <= metrics['test_bpd_elbo']
  assert metrics['num_test_examples'] == 32 and metrics['iw_samples'] == 4
  assert set(metrics['fid_fashion_mnist_by_temperature']) == {'0', '0.25', '0.5', '0.75', '1'}
  assert all(np.isfinite(v) and v >= 0 for v in metrics['fid_fashion_mnist_by_temperature'].values())
  # KID and precision/recall beside FID, for the same samples, at every temperature.
  for score in ('kid', 'kid_se', 'precision', 'recall'):
    sweep = metrics[f'{score}_fashion_mnist_by_temperature']
    assert sweep['0.5'] == metrics[f'{score}_fashion_mnist']
    assert all(np.isfinite(v) for v in sweep.values())
  assert all(0 <= metrics[f'{s}_fashion_mnist'] <= 1 for s in ('precision', 'recall'))
  assert metrics['kid_se_fashion_mnist'] > 0
  assert 'fid_inception' not in metrics and 'fid_inception' in metrics['notes']
  _check_glow_layer_measures_and_exported_samples(metrics, workdir, fe_dir)
  figures = os.path.join(workdir, 'eval', 'glow')
  # Reconstructions: the errors of 32 test images, the same as from the loaded run.
  import vaeglow_jax
  recon = metrics['reconstruction']
  assert recon['num_images'] == 32 and set(recon) == {'rms_decoder_mean', 'rms_x', 'num_images',
                                                      'figure'}
  run = vaeglow_jax.load(workdir, num_devices=1)
  codes = images_lib.to_uint8(scoring.test_images(_config(), 32))
  parts = run.reconstruct(codes)
  for key in ('decoder_mean', 'x'):  # from uint8 outputs: within half an 8-bit level
    rms = np.sqrt(np.mean((parts[key] / 255.0 - codes / 255.0) ** 2))
    assert recon[f'rms_{key}'] == pytest.approx(rms, abs=0.5 / 255)
  assert any('reconstructions' in tag for tag in _image_tags(os.path.join(workdir, 'eval', 'glow')))
  # The mechanism command measures what evaluate wrote, from the run alone.
  from experiments import mechanism
  row = mechanism.row(workdir, 'glow', 32)
  residual = metrics['glow_layer']['residual']
  for key in ('residual_removed', 'gain_bpd_gaussian', 'gain_bpd_logdet', 'explained_bpd',
              'best_rescale_bpd', 'residual_removed_rescaled'):
    assert row[key] == pytest.approx(residual[key], rel=1e-5, abs=1e-7), key
  assert f"| {row['explained_bpd']:+.3f} |" in mechanism.markdown([row])
  for name in ('decoder_mean_vs_glow.png', 'interpolation.png', 'training_curves.png',
               'samples_T0.png', 'reconstructions.png', 'samples_T0.5.png', 'samples_T1.png'):
    assert os.path.isfile(os.path.join(figures, name)), name
  with open(os.path.join(workdir, 'eval', 'metrics.json')) as f:
    saved = json.load(f)
  assert saved['glow']['test_bpd_elbo'] == metrics['test_bpd_elbo']

  # Phase 1 in the same workdir: a second entry, the first kept.
  vae_config = _config('vae', num_devices=1)
  vae_config.eval.feature_extractor_dir = fe_dir
  vae_metrics = evaluation.evaluate(vae_config, workdir, log=lambda *_: None)
  assert 'fid_fashion_mnist_by_temperature' not in vae_metrics  # decoder means ignore T
  assert 'glow_layer' not in vae_metrics
  with np.load(os.path.join(workdir, 'eval', 'vae', 'samples_T0.5.npz')) as f:
    assert f.files == ['x'] and f['x'].shape == (24, 8, 8, 1)
  with open(os.path.join(workdir, 'eval', 'metrics.json')) as f:
    assert set(json.load(f)) == {'vae', 'glow'}

  table = report.markdown_table(report.load_rows([workdir]))
  assert 'VAE + Glow layer (full model)' in table and f"{metrics['test_bpd_elbo']:.3f}" in table
  assert 'classifier acc' in table
  kid = metrics['kid_fashion_mnist']
  assert f"{kid:.4g} +- {metrics['kid_se_fashion_mnist']:.2g}" in table
  assert f"{metrics['precision_fashion_mnist']:.3f} / {metrics['recall_fashion_mnist']:.3f}" in table
  layer_table = report.glow_layer_table(report.load_rows([workdir]))
  assert len(layer_table.splitlines()) == 2 + 5  # header, rule, one row per temperature
  x_tilde_fid = metrics['glow_layer']['x_tilde']['fashion_mnist']['0.5']['fid']
  assert f"| 0.5 | {metrics['fid_fashion_mnist_by_temperature']['0.5']:.2f} | {x_tilde_fid:.2f} |" \
      in layer_table
  ablation = report.ablation_table(report.load_rows([workdir])).splitlines()
  assert len(ablation) == 3  # header, rule, the glow phase (the vae phase has no Glow layer)
  assert 'shuffle mixing, width 8, additive, lr' in ablation[2]
  assert f"| {x_tilde_fid:.1f} |" in ablation[2]


def _image_tags(directory):
  """The image tags in directory's TensorBoard event files."""
  from tensorboard.backend.event_processing import event_file_loader
  import glob
  return {value.tag for path in glob.glob(os.path.join(directory, 'events.out.tfevents.*'))
          for event in event_file_loader.EventFileLoader(path).Load()
          for value in event.summary.value}


def _check_glow_layer_measures_and_exported_samples(metrics, workdir, fe_dir):
  from vaeglow_jax.evaluation.metrics import fid, scores
  out_dir = os.path.join(workdir, 'eval', 'glow')
  assert metrics['exported_samples'] == [f'samples_T{t}.npz' for t in ('0', '0.25', '0.5', '0.75', '1')]
  exported = {}
  for t in ('0', '0.5', '1'):
    with np.load(os.path.join(out_dir, f'samples_T{t}.npz')) as f:
      exported[t] = {k: f[k] for k in f.files}
    assert set(exported[t]) == {'x', 'x_tilde', 'decoder_mean'}
    assert all(v.dtype == np.uint8 and v.shape == (24, 8, 8, 1) for v in exported[t].values())
  # At T=0 x_tilde is the decoder mean; the decoder mean is the same noise at every T.
  np.testing.assert_array_equal(exported['0']['x_tilde'], exported['0']['decoder_mean'])
  np.testing.assert_array_equal(exported['0']['decoder_mean'], exported['1']['decoder_mean'])
  assert np.any(exported['1']['x_tilde'] != exported['1']['decoder_mean'])
  # The exported x is what was scored: its FID, recomputed from the file, is the metric.
  fn, _ = feature_extractor.load(fe_dir)
  reference = scoring.test_images(_config(), 32)
  recomputed = fid.fid_from_features(
      scoring.features(fn, exported['0.5']['x'].astype(np.float32) / 255.0, 8),
      scoring.features(fn, reference, 8))
  assert recomputed == pytest.approx(metrics['fid_fashion_mnist'], rel=1e-6)
  layer = metrics['glow_layer']
  assert set(layer['x_tilde']['fashion_mnist']) == {'0', '0.25', '0.5', '0.75', '1'}
  assert set(layer['x_tilde']['fashion_mnist']['0.5']) == set(scores.score_names())
  assert set(layer['decoder_mean']['fashion_mnist']) == set(scores.score_names())
  effect = layer['effect']
  assert effect['0']['change_over_noise'] is None and effect['0']['rms_x_tilde_minus_mean'] == 0
  assert effect['1']['rms_x_tilde_minus_mean'] > effect['0.25']['rms_x_tilde_minus_mean'] > 0
  expected = (np.sqrt(np.mean((exported['1']['x'] / 255.0 - exported['1']['x_tilde'] / 255.0) ** 2))
              / np.sqrt(np.mean((exported['1']['x_tilde'] / 255.0
                                 - exported['1']['decoder_mean'] / 255.0) ** 2)))
  assert effect['1']['change_over_noise'] == pytest.approx(expected, rel=1e-6)
  assert all(effect['1'][f'hf_energy_{k}'] > 0 for k in ('x', 'x_tilde', 'decoder_mean'))
  residual = layer['residual']
  assert residual['residual_removed'] == pytest.approx(
      1 - (residual['rms_f_x_minus_mean'] / residual['rms_x_minus_mean']) ** 2)
  assert 0 < residual['rms_x_minus_mean'] < 1 and residual['normalised_sq_x'] > 0


@pytest.mark.slow
def test_evaluate_says_when_the_phase_is_still_training_and_which_step_it_evaluates(trained):
  from vaeglow_jax.runtime import lock as lock_lib
  from vaeglow_jax.io import workdir as workdir_lib
  workdir, fe_dir = trained
  config = _config('glow', num_devices=1, **{'eval.feature_extractor_dir': fe_dir,
                                              'eval.num_fid_samples': 16, 'eval.max_test_examples': 16})
  lines = []
  with lock_lib.phase_lock(workdir_lib.phase_dir(workdir, 'glow')):  # as a training run holds it
    metrics = evaluation.evaluate(config, workdir, log=lines.append)
  note = [line for line in lines if line.startswith('note: ')]
  assert note == [f"note: phase 'glow' is still being trained (pid {os.getpid()}); this evaluates "
                  f"its newest finished checkpoint, step {metrics['checkpoint_step']}."]
  assert metrics['evaluated_while_training'] is True
  lines.clear()
  assert 'evaluated_while_training' not in evaluation.evaluate(config, workdir, log=lines.append)
  assert not [line for line in lines if line.startswith('note: ')]


@pytest.mark.slow
def test_sigterm_during_evaluate_is_one_line_exit_143_and_leaves_the_work_directory_as_it_was(
    trained, tmp_path):
  import signal
  import time
  workdir, fe_dir = trained
  run = str(tmp_path / 'run')
  shutil.copytree(workdir, run)
  # An earlier evaluation's files, which the stopped one rewrites before it is stopped.
  os.makedirs(os.path.join(run, 'eval', 'glow'), exist_ok=True)
  with open(os.path.join(run, 'eval', 'glow', 'samples_T0.png'), 'wb') as f:
    f.write(b'an earlier evaluation')
  # Another phase's evaluation, which this one neither rewrites nor copies, and the metrics.json
  # entry it made (this evaluation would add its own to that file).
  os.makedirs(os.path.join(run, 'eval', 'vae'), exist_ok=True)
  with open(os.path.join(run, 'eval', 'vae', 'samples_T0.npz'), 'wb') as f:
    f.write(b'another evaluation')
  with open(os.path.join(run, 'eval', 'metrics.json'), 'w') as f:
    f.write('{"vae": {"test_bpd_iw": 5.0}}')
  before = snapshot(run)

  def contents():  # restored files are rewritten: compare what they hold, not their times
    import hashlib
    return {path: hashlib.sha256(open(path, 'rb').read()).hexdigest() for path in snapshot(run)}

  held = contents()
  proc, log = launch(['experiments.evaluate', f'--workdir={run}', '--config.phase=glow',
                      f'--config.eval.feature_extractor_dir={fe_dir}', '--config.num_devices=1'],
                     str(tmp_path / 'eval.log'), 1)
  deadline = time.time() + 300
  while snapshot(run) == before and proc.poll() is None and time.time() < deadline:
    time.sleep(0.2)  # until the evaluation has written something (its events file)
  assert proc.poll() is None, open(log).read()[-3000:]
  proc.send_signal(signal.SIGTERM)
  text, = finish([(proc, log)], timeout=300, returncode=143)
  errors = [line for line in text.splitlines() if line.startswith('error: ')]
  assert errors == ['error: stopped by SIGTERM during the evaluation; the work directory is as it '
                    'was (what the evaluation had written is undone): rerun the same command to '
                    'evaluate.'], text[-3000:]
  assert 'Traceback' not in text
  assert contents() == held


@pytest.mark.slow
def test_evaluate_rejects_bad_input_and_writes_nothing(trained, tmp_path):
  workdir, fe_dir = trained
  before = snapshot(workdir)
  cases = [
      ({'model.latent_dim': 8}, loading.EvaluationError, 'model.latent_dim is 8 but'),
      ({'eval.feature_extractor_dir': str(tmp_path)}, feature_extractor.FeatureExtractorError,
       'no feature extractor in'),
      ({'eval.inception_weights': str(tmp_path / 'missing.npz')}, inception.InceptionWeightsError,
       'not found'),
      ({'eval.iw_samples': 0}, config_checks.ConfigError, 'iw_samples must be positive'),
      ({'eval.temperatures': (0.5, -1.0)}, config_checks.ConfigError, 'temperatures must be finite and >= 0'),
      ({'phase': 'second_stage'}, WorkdirError, 'no trained phase'),
  ]
  for overrides, error, message in cases:
    config = _config(overrides.pop('phase', 'glow'), num_devices=1, **overrides)
    with pytest.raises(error, match=message):
      evaluation.evaluate(config, workdir, log=lambda *_: None)
  assert snapshot(workdir) == before


@pytest.mark.slow
def test_evaluate_cli_fid_weights_of_the_wrong_shape_is_one_line_exit_2(trained, tmp_path):
  workdir, _ = trained
  weights = tmp_path / 'weights.npz'
  np.savez(weights, **{'Mixed_5b.branch1x1.conv.weight': np.zeros((64, 192, 3, 3), np.float32)})
  before = snapshot(workdir)
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.evaluate', '--config=tests/configs/tiny.py',
       f'--workdir={workdir}', '--config.phase=glow', '--config.num_devices=1',
       f'--config.eval.inception_weights={weights}'],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env={**os.environ, 'XLA_FLAGS': xla_flags(1)})
  assert result.returncode == 2, result.stderr[-2000:]
  error_lines = [l for l in result.stderr.splitlines() if l.startswith('error:')]
  assert len(error_lines) == 1
  assert 'Mixed_5b.branch1x1.conv.weight has shape (64, 192, 3, 3), expected (64, 192, 1, 1)' \
      in error_lines[0]
  assert 'Traceback' not in result.stderr
  assert snapshot(workdir) == before


@pytest.mark.slow
def test_feature_extractor_features_and_data_check(trained):
  _, fe_dir = trained
  fn, info = feature_extractor.load(fe_dir, _config().data)
  assert info['num_test_examples'] == 10_000 and 0.0 <= info['test_accuracy'] <= 1.0
  images = np.random.default_rng(0).uniform(size=(5, 8, 8, 1)).astype(np.float32)
  out = np.asarray(fn(images))
  assert out.shape == (5, 16) and np.all(np.isfinite(out))
  # Per-example, no batch mixing. Not bitwise: XLA:CPU tiles a batch of 5 and one of 2
  # differently (1e-5 relative seen in CI); batch statistics would move features by >1e-2.
  np.testing.assert_allclose(out[:2], np.asarray(fn(images[:2])), rtol=1e-4, atol=1e-6)
  with pytest.raises(feature_extractor.FeatureExtractorError, match='trained on fashion_mnist'):
    feature_extractor.load(fe_dir, _config(**{'data.resize': 0}).data)


def test_feature_extractor_classifies_separable_images():
  """The classifier's training (the feature extractor's own fit, by the training loop) learns:
  two classes of constant images are told apart after a few steps; with a NaN image in the data
  the non-finite guard stops it."""
  import ml_collections
  model = feature_extractor.Classifier(num_classes=2, widths=(4,), feature_dim=8)
  x = np.concatenate([np.full((8, 8, 8, 1), 25), np.full((8, 8, 8, 1), 230)]).astype(np.uint8)
  y = np.array([0] * 8 + [1] * 8)
  params = model.init(jax.random.PRNGKey(0), x.astype(np.float32) / 255)['params']
  fe = ml_collections.ConfigDict(dict(learning_rate=1e-2, num_steps=100, batch_size=16, seed=0))
  before = feature_extractor.accuracy_of(model, params, x, y)
  trained = fe_training.fit(model, params, x, y, fe, log=lambda *_: None)
  assert before < 1.0 and feature_extractor.accuracy_of(model, trained, x, y) == 1.0
  with pytest.raises(TrainingError, match='non-finite loss at step 1'):
    fe_training.fit(model, params, x.astype(np.float32) * np.nan, y, fe, stop_on_nonfinite=True,
                    log=lambda *_: None)


def _rel_tolerance(metrics: dict, key: str, rel: float = 1e-4) -> float:
  """rel for a measured value; for the log-determinant's share of the Glow layer's gain,
  s = L / (G + L), the tolerance its two parts at rel imply: |ds / s| <= rel (1 + (|G| + |L|) /
  |G + L|), large when the Gaussian part G nearly cancels the log-det part L (a summation order
  that differs between 1 and 2 processes moved it by 1.8e-4 relative, its parts by less than
  1e-4)."""
  if not key.endswith('.logdet_share_of_gain'):
    return rel
  prefix = key[:-len('logdet_share_of_gain')]
  gaussian, logdet = metrics[prefix + 'gain_bpd_gaussian'], metrics[prefix + 'gain_bpd_logdet']
  return rel * (1 + (abs(gaussian) + abs(logdet)) / abs(gaussian + logdet))


@pytest.mark.slow
def test_evaluate_with_two_processes_gives_the_metrics_of_one(trained, tmp_path):
  """experiments.evaluate as 2 processes x 2 devices against evaluation in this process (4
  devices), each on its own copy of the trained work directory: the same metrics.json numbers
  and the same files."""
  workdir, fe_dir = trained
  runs = {name: str(tmp_path / name) for name in ('one', 'two')}
  for run in runs.values():
    shutil.copytree(workdir, run, ignore=shutil.ignore_patterns('eval'))
  args = ['experiments.evaluate', '--config.phase=glow', '--config.num_devices=4',
          f'--config.eval.feature_extractor_dir={fe_dir}', '--config.eval.temperatures=(0.0, 0.5)']
  # Bad input on process 1 only: both processes end with its one-line error, nothing written.
  # The first fails in the CLI, before evaluate() (a work directory process 1 cannot see), the
  # second in evaluate()'s own checks. (A refused model override, the CLI's other check, is
  # test_workdir's.)
  empty = tmp_path / 'not_shared'
  empty.mkdir()
  for process_1_flags, error in [
      ([f'--workdir={empty}'], f"no trained phase 'glow' in {empty}"),
      (['--config.eval.iw_samples=0'], 'eval.iw_samples must be positive, got 0.')]:
    port = free_port()
    outs = finish([launch([*args, f'--workdir={runs["two"]}', *process_flags(port, i),
                           *(process_1_flags if i else [])],
                          f'{runs["two"]}.bad{i}.log', 2) for i in range(2)], timeout=300,
                  returncode=2)
    for out in outs:
      errors = [line for line in out.splitlines() if line.startswith('error:')]
      assert len(errors) == 1 and errors[0].startswith(f'error: process 1 of 2: {error}'), out[-3000:]
      assert 'Traceback' not in out
    assert not os.path.exists(os.path.join(runs['two'], 'eval')) and os.listdir(empty) == []

  # The reference in this process, which has the 4 devices of the two: the config that
  # experiments.evaluate builds from the work directory and the overrides in `args`.
  saved = history.trained_config(runs['one'], 'glow', from_workdir.get_config())
  evaluation.evaluate(
      history.with_overrides(saved, {'phase': 'glow', 'num_devices': 4,
                                           'eval.feature_extractor_dir': fe_dir,
                                           'eval.temperatures': (0.0, 0.5)}),
      runs['one'], log=lambda *_: None)
  port = free_port()
  finish([launch([*args, f'--workdir={runs["two"]}', *process_flags(port, i)],
                 f'{runs["two"]}.{i}.log', 2) for i in range(2)], timeout=600)
  one, two = ({k: v for k, v in _flat_metrics(run).items()
               if not k.endswith('seconds') and not k.startswith('figures')}
              for run in (runs['one'], runs['two']))
  assert one.keys() == two.keys()
  assert one['num_test_examples'] == two['num_test_examples'] == 32
  assert {'test_bpd_iw', 'fid_fashion_mnist', 'glow_layer.x_tilde.fashion_mnist.0.5.fid'} <= one.keys()
  for key, value in one.items():
    if isinstance(value, float):
      assert two[key] == pytest.approx(value, rel=_rel_tolerance(one, key), abs=1e-6), key
    else:
      assert two[key] == value, key
  # One set of files: process 1 wrote nothing into the work directory.
  assert workdir_files(runs['two']) == workdir_files(runs['one'])


def _flat_metrics(workdir):
  with open(os.path.join(workdir, 'eval', 'metrics.json')) as f:
    return traverse_util.flatten_dict(json.load(f)['glow'], sep='.')
