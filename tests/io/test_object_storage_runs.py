"""Training and evaluation with the work directory in a bucket (a local Cloud Storage emulator,
tests.gcs_emulator): the same checkpoints and metrics as a local work directory, a kill -9 and
storage outages resumed bitwise, and two processes whose only common storage is the bucket."""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from flax import traverse_util

from tests.configs import tiny
from tests.helpers import (ROOT, assert_trees_equal, finish, free_port, latest_state, launch,
                           process_flags, wait_for_line, workdir_files)
from tests.runtime import test_multihost, test_reliability
# The uninterrupted local two-process run (made once per session) the bucket run is compared with.
from tests.runtime.test_multihost import two_process_run  # noqa: F401  pylint: disable=unused-import
from tests.runtime.test_reliability import straight_run  # noqa: F401  pylint: disable=unused-import
from tests.xla_env import xla_flags
from vaeglow_jax.training import feature_extractor as fe_training
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.evaluation import calibration, evaluator, figures, report
from vaeglow_jax.training import trainer

pytestmark = pytest.mark.slow


def _config(phase='vae', **overrides):
  c = tiny.get_config()
  c.phase = phase
  c.num_devices = 1
  c.update_from_flattened_dict(overrides)
  return c


def _bucket_files(gcs, url):
  """The bucket's objects under url, as workdir_files lists a local directory (a phase's event
  files, one per upload there and one in all locally, as one 'events')."""
  names = [name[len(url) + 1:] for name in gcs.list(url)]
  return sorted({os.path.join(os.path.dirname(n) or '.', 'events' if os.path.basename(n).startswith(
      'events.out.tfevents') else os.path.basename(n)) for n in names if 'checkpoints' not in n})


def _comparable(metrics):
  """Everything but wall times."""
  flat = traverse_util.flatten_dict(metrics, sep='.')
  return {k: v for k, v in flat.items() if not k.endswith('seconds') and 'seconds_per' not in k}


def test_both_phases_features_and_evaluation_on_a_bucket_equal_a_local_run(gcs, tmp_path, tiny_run):
  # The local run: conftest's (the same configs), copied to evaluate into.
  runs = {'local': str(tmp_path / 'run'), 'bucket': gcs.make_bucket('runs') + '/run'}
  shutil.copytree(tiny_run[0], runs['local'], ignore=shutil.ignore_patterns('eval'))
  features = {'local': tiny_run[1], 'bucket': 'gs://runs/features'}
  for phase in ('vae', 'glow'):
    trainer.train_and_evaluate(_config(phase), runs['bucket'])
  fe_training.train(_config(), features['bucket'], log=lambda *_: None)
  metrics = {where: evaluator.evaluate(
      _config('glow', **{'eval.feature_extractor_dir': features[where],
                         'eval.temperatures': (0.0, 0.5)}), runs[where], log=lambda *_: None)
             for where in runs}
  fe_local, fe_bucket = (checkpoints.restore_raw(checkpoints.checkpoint_manager(
      files_lib.join(features[w], 'checkpoints'), 1)) for w in ('local', 'bucket'))
  assert_trees_equal(fe_local, fe_bucket)
  for phase in ('vae', 'glow'):
    (step_a, a), (step_b, b) = (latest_state(runs[w], phase) for w in ('local', 'bucket'))
    assert step_a == step_b and step_a > 0
    assert_trees_equal(a, b)
  assert _comparable(metrics['bucket']) == _comparable(metrics['local'])
  saved = files_lib.read_json(workdir_lib.metrics_path(runs['bucket']))
  assert _comparable(saved['glow']) == _comparable(metrics['local'])
  # The same files (the bucket has no folders, and no lock left behind) and the same events.
  assert _bucket_files(gcs, runs['bucket']) == [
      f for f in workdir_files(runs['local']) if not f.endswith('.lock')]
  for phase in ('vae', 'glow'):
    assert (figures.read_scalars(workdir_lib.phase_dir(runs['bucket'], phase))['train/loss'] ==
            figures.read_scalars(workdir_lib.phase_dir(runs['local'], phase))['train/loss'])
  for name in ('samples_T0.png', 'training_curves.png'):
    assert files_lib.is_file(files_lib.join(runs['bucket'], 'eval', 'glow', name))
  # The calibration of the bucket's feature space, written into the bucket.
  result = calibration.calibrate(_config(**{'eval.feature_extractor_dir': features['bucket']}),
                                 'gs://runs/calibration', log=lambda *_: None)
  assert files_lib.read_json(f'gs://runs/calibration/{calibration.RESULT_FILE}') == json.loads(
      json.dumps(result))
  assert files_lib.is_file(f'gs://runs/calibration/{calibration.FIGURE_FILE}')
  # The result table from the bucket is the local one; samples from the last trained phase (glow,
  # found by its checkpoint times) into the bucket, by the command.
  rows = {w: report.load_rows([runs[w]]) for w in runs}
  assert ([_comparable({**r, 'workdir': None}) for r in rows['bucket']] ==
          [_comparable({**r, 'workdir': None}) for r in rows['local']])
  sampled = subprocess.run([sys.executable, '-m', 'experiments.sample', f'--workdir={runs["bucket"]}',
                            '--num=3'], cwd=ROOT, env={**os.environ, 'XLA_FLAGS': xla_flags(1)},
                           capture_output=True, text=True, timeout=300)
  assert sampled.returncode == 0, sampled.stderr[-3000:]
  assert gcs.list(f'{runs["bucket"]}/glow/samples_T0.5') == [
      f'{runs["bucket"]}/glow/samples_T0.5/{name}'
      for name in ('000000.png', '000001.png', '000002.png', 'samples.npz')]
  # The same images from Python, the run loaded from the bucket.
  import vaeglow_jax
  saved = np.load(io.BytesIO(files_lib.read_bytes(f'{runs["bucket"]}/glow/samples_T0.5/samples.npz')))
  np.testing.assert_array_equal(vaeglow_jax.load(runs['bucket'], num_devices=1).sample(3), saved['x'])


def test_kill9_and_storage_outages_on_a_bucket_resume_bitwise(gcs, straight_run):
  """A kill -9 as the second checkpoint save starts; then, in the rerun, the emulator stopped for
  3 s between saves and again as a save starts. Every run either rides an outage out or ends
  with one line naming the bucket; a rerun resumes from the last complete checkpoint (never from
  the half-written one), taking over the killed run's lock, and the end state is bitwise that of
  an uninterrupted local run (test_reliability's)."""
  # A 2 s stale interval: the rerun takes the killed run's lock over without a long wait.
  args = [*test_reliability.KILL9_ARGS, '--config.lock_stale_seconds=2']
  run = gcs.make_bucket('faults') + '/run'

  killed = test_reliability._cli(run, *args, wait=False)
  wait_for_line(killed, 'saving checkpoint at step 4')
  killed.send_signal(signal.SIGKILL)
  killed.wait()

  outcomes, outputs = [], []
  for attempt in range(4):
    proc = test_reliability._cli(run, *args, wait=False)
    seen = []
    if attempt == 0:
      seen += wait_for_line(proc, '] [5] train/')  # between the saves at steps 4 and 6
      gcs.stop()
      time.sleep(3)
      gcs.start()
      seen += wait_for_line(proc, 'saving checkpoint at step 8')  # in a save
      gcs.stop()
      time.sleep(3)
      gcs.start()
    out, _ = proc.communicate(timeout=600)
    outputs.append(''.join(seen) + out)
    outcomes.append(proc.returncode)
    if proc.returncode == 0:
      break
    errors = [line for line in out.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and 'gs://faults' in errors[0], out[-3000:]
  assert outcomes[-1] == 0, outcomes
  assert 'took over the lock gs://faults/run/vae/.lock' in outputs[0], outputs[0][-3000:]
  assert re.search(r'resumed vae from step [24]\b', outputs[0]), outputs[0][-3000:]
  step_a, a = latest_state(str(straight_run), 'vae')
  step_b, b = latest_state(run, 'vae')
  assert step_a == step_b == 10
  assert_trees_equal(a['params'], b['params'])
  assert_trees_equal(a['opt_state'], b['opt_state'])


def test_two_processes_sharing_only_a_bucket_train_stop_resume_and_evaluate(gcs, tmp_path, request):
  """2 processes x 2 devices, each with its own local temporary directory, the work directory in
  the bucket: process 1 gets SIGTERM at its 3rd batch, both stop at one step; the same commands
  resume to the end, bitwise the uninterrupted local two-process run of test_multihost; the Glow
  layer trains on the frozen phase 1 read from the bucket; evaluation by both writes one
  metrics.json. (The test's JAX compilation cache stays shared: it is the test harness's, not
  storage the project reads or writes.)"""
  run = gcs.make_bucket('pod') + '/run'
  local_dirs = [tmp_path / f'host{i}' for i in range(2)]
  for directory in local_dirs:
    directory.mkdir()

  def launch_both(*extra, env_1=None, entry='experiments.train', tag='train'):
    port = free_port()
    return [launch(['tests.mock_train', f'--workdir={run}', *test_multihost.ARGS, test_multihost.SMALL_LR,
                    '--config.lock_stale_seconds=2', *extra, *process_flags(port, i)],
                   tmp_path / f'{tag}{i}.log', 2,
                   {**gcs.env, 'TMPDIR': str(local_dirs[i]), 'VAEGLOW_TEST_ENTRY': entry,
                    **((env_1 or {}) if i else {})}) for i in range(2)]

  outs = finish(launch_both(env_1={'VAEGLOW_TEST_SIGTERM_AT_BATCH': '3'}, tag='stopped'),
                timeout=300, returncode=143)
  stopped_at = [int(re.search(r'stopped by SIGTERM at step (\d+)', out).group(1)) for out in outs]
  assert stopped_at[0] == stopped_at[1] < test_multihost.STEPS
  assert latest_state(run, 'vae')[0] == stopped_at[0]
  finish(launch_both(tag='resumed'))
  straight, _ = request.getfixturevalue('two_process_run')
  (step_a, a), (step_b, b) = latest_state(str(straight), 'vae'), latest_state(run, 'vae')
  assert step_a == step_b == test_multihost.STEPS
  assert_trees_equal(a['params'], b['params'])
  assert_trees_equal(a['opt_state'], b['opt_state'])

  glow = ['--config.phase=glow', '--config.num_train_steps=2', '--config.checkpoint_every_steps=2',
          '--config.sample_every_steps=2']
  finish(launch_both(*glow, tag='glow'))
  # Phase-1 -> phase-2 hand-off under 2 processes: both restore the phase-1 checkpoint from the
  # bucket, train the Glow layer only, and save the phase-1 parameters bitwise unchanged.
  step, glow_state = latest_state(run, 'glow')
  assert step == 2
  assert set(glow_state['params']) == {'glow'}
  assert set(glow_state['frozen']) == {'encoder', 'decoder', 'prior'}
  assert_trees_equal(glow_state['frozen'], b['params'])
  losses = [v for _, v in figures.read_scalars(workdir_lib.phase_dir(run, 'glow'))['train/loss']]
  assert len(losses) == 2 and np.all(np.isfinite(losses))

  finish(launch_both('--config.phase=glow', '--config.eval.temperatures=(0.0,)',
                     entry='experiments.evaluate', tag='evaluate'))
  metrics = files_lib.read_json(workdir_lib.metrics_path(run))
  assert list(metrics) == ['glow'] and np.isfinite(metrics['glow']['test_bpd_iw'])
  assert [n for n in gcs.list(run) if 'metrics' in n] == [f'{run}/eval/metrics.json']
  # The event files' local copies (training.writer) were removed from each process's directory.
  assert [[p.name for p in d.iterdir() if p.name.startswith('vaeglow')] for d in local_dirs] == [[], []]


def test_a_bucket_that_stays_away_ends_the_run_in_one_line_and_the_rerun_resumes(gcs):
  """The emulator stopped as a save starts and kept away: the run ends with one line naming the
  bucket and exit 2 in bounded time (the clients' retries, the lock's own deadline), no stack
  trace; with the bucket back, the same command resumes from the last complete checkpoint,
  taking over the lock its dead predecessor could not delete."""
  run = gcs.make_bucket('away') + '/run'
  args = ['--config.num_train_steps=100000', '--config.checkpoint_every_steps=4',
          '--config.log_every_steps=1']
  proc = test_reliability._cli(run, *args, wait=False)
  wait_for_line(proc, 'saving checkpoint at step 8')
  gcs.stop()
  stopped = time.monotonic()
  out, _ = proc.communicate(timeout=400)
  took = time.monotonic() - stopped
  gcs.start()
  assert proc.returncode == 2 and 'Traceback' not in out, out[-3000:]
  errors = [line for line in out.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and errors[0].startswith('error: the bucket gs://away did not answer ('), out[-3000:]
  assert took < 200, took
  last = latest_state(run, 'vae')[0]
  assert last in (4, 8)
  rerun = test_reliability._cli(run, *args[1:], f'--config.num_train_steps={last + 2}')
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert f'resumed vae from step {last}' in rerun.stderr
