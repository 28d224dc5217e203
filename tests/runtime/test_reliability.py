"""Crash safety, non-finite guard, locks, and one-line errors for bad input."""

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.helpers import (ROOT, assert_trees_equal, latest_state, once_per_session,
                           poisoned_per_example, snapshot, train_config, wait_for_line)
from tests.xla_env import xla_flags
from vaeglow_jax.runtime import sharding
from vaeglow_jax.io import checkpoints
from vaeglow_jax.config import checks as config_checks
from vaeglow_jax import phases
from vaeglow_jax.errors import WorkdirError
from vaeglow_jax.runtime import lock as lock_lib
from vaeglow_jax.runtime import signals as signals_lib
from vaeglow_jax.training import trainer
from vaeglow_jax.training import train as train_lib
from vaeglow_jax.data import DataError

MOCK_ARGS = ['--config=tests/configs/tiny.py',
             '--config.data.allow_download=True', '--config.data.data_dir=/tmp/vaeglow_mock_unused',
             '--config.data.train_split=train', '--config.warmup_steps=0']


def _cli(workdir, *args, wait=True, **kwargs):
  cmd = [sys.executable, '-m', 'tests.mock_train', f'--workdir={workdir}', *MOCK_ARGS, *args]
  env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'XLA_FLAGS': xla_flags(1)}
  if not wait:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)
  return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, **kwargs)



def test_unwritable_workdir(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  with pytest.raises(WorkdirError, match='is not a directory'):
    trainer.train_and_evaluate(train_config(), str(blocker / 'run'))
  assert blocker.read_text() == 'not a directory'


def test_workdir_under_proc_is_a_clear_error():
  # /proc passes the permission check as root, then refuses the mkdir.
  with pytest.raises(WorkdirError, match='cannot be created|not writable'):
    trainer.train_and_evaluate(train_config(), '/proc/vaeglow_no_such_dir/run')


def test_missing_config_file_is_one_line_and_exit_2(tmp_path):
  for module in ('experiments.train', 'experiments.evaluate'):
    result = subprocess.run(
        [sys.executable, '-m', module, '--config=experiments/configs/does_not_exist.py:quick',
         f'--workdir={tmp_path / "run"}'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(
        'error: config file experiments/configs/does_not_exist.py not found')
  assert list(tmp_path.iterdir()) == []


def test_dataset_not_available_offline(tmp_path):
  config = train_config()
  config.data.name = 'cifar10'
  config.data.resize = 0
  config.data.allow_download = False
  config.data.data_dir = str(tmp_path / 'tfds')
  with pytest.raises(DataError, match='tfds build cifar10'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


@pytest.fixture(scope='module')
def phase1_workdir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('phase1')
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(train_config('vae', steps=2, checkpoint_every_steps=2), str(workdir))
  return workdir


def test_phase1_checkpoint_of_another_architecture_names_the_parameter(phase1_workdir, tmp_path):
  before = snapshot(phase1_workdir)
  with tfds.testing.mock_data(num_examples=16):
    # With phase 1's config.json: the differing key, before any checkpoint is read.
    with pytest.raises(config_checks.ConfigError, match=r'model\.latent_dim=6 \(trained with 4\)'):
      trainer.train_and_evaluate(train_config('glow', **{'model.latent_dim': 6}), str(phase1_workdir))
    # Without it (a checkpoint copied on its own): the parameter whose shape differs.
    copy = tmp_path / 'copy'
    shutil.copytree(phase1_workdir, copy)
    os.remove(copy / 'vae' / 'config.json')
    with pytest.raises(checkpoints.CheckpointError,
                       match=r"\['params'\]\['(en|de)coder'\]\['\w+'\]\['\w+'\] is of shape \((\d+, )?4(, \d+)?\), expected"):
      trainer.train_and_evaluate(train_config('glow', **{'model.latent_dim': 6}), str(copy))
  assert snapshot(phase1_workdir) == before and not (phase1_workdir / 'glow').exists()


def test_a_damaged_only_checkpoint_stops_phase2_and_the_rerun_with_one_line_each(phase1_workdir,
                                                                                 tmp_path):
  workdir = tmp_path / 'copy'
  shutil.copytree(phase1_workdir, workdir)
  step_dir = workdir / 'vae' / 'checkpoints' / '2'
  for root, _, files in os.walk(step_dir):
    for name in files:
      if name not in ('_CHECKPOINT_METADATA', 'commit_success.txt'):
        with open(os.path.join(root, name), 'r+b') as f:
          f.truncate(max(0, os.path.getsize(os.path.join(root, name)) // 3))
  with tfds.testing.mock_data(num_examples=16):
    # Phase 2 refuses it, never falling back to another phase-1 step.
    with pytest.raises(checkpoints.DamagedCheckpoint, match='is damaged.*never replaced by an '
                       'older step'):
      trainer.train_and_evaluate(train_config('glow', steps=4), str(workdir))
    with pytest.raises(trainer.TrainingError, match='is damaged.*move that step folder aside'):
      trainer.train_and_evaluate(train_config('vae', steps=4, on_damaged_checkpoint='stop'),
                                 str(workdir))
    assert step_dir.is_dir()
    # Falling back: moved aside (kept), and with nothing older that verifies, the run stops.
    with pytest.raises(trainer.TrainingError, match=r'no checkpoint of .* verifies: step\(s\) 2 '
                       r'were damaged and are kept in .*damaged_checkpoints'):
      trainer.train_and_evaluate(train_config('vae', steps=4), str(workdir))
  assert not step_dir.exists() and (workdir / 'vae' / 'damaged_checkpoints' / '2').is_dir()


# Locks ------------------------------------------------------------------------------

def test_second_process_on_same_phase_refuses(tmp_path):
  with lock_lib.phase_lock(str(tmp_path / 'vae')):
    with tfds.testing.mock_data(num_examples=16):
      with pytest.raises(WorkdirError, match=f'another training process \\(pid {os.getpid()}\\)'):
        trainer.train_and_evaluate(train_config('vae', steps=2), str(tmp_path))


def test_dead_process_leaves_no_stuck_lock(tmp_path):
  code = ('import sys, time; from vaeglow_jax.runtime import lock as lock_lib\n'
          f'with lock_lib.phase_lock({str(tmp_path)!r}):\n  print("locked", flush=True); time.sleep(60)')
  proc = subprocess.Popen([sys.executable, '-c', code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
  assert proc.stdout.readline().strip() == 'locked'
  with pytest.raises(WorkdirError):
    with lock_lib.phase_lock(str(tmp_path)):
      pass
  proc.kill()
  proc.wait()
  with lock_lib.phase_lock(str(tmp_path)):  # acquired: the lock died with its process
    pass


# Non-finite guard ------------------------------------------------------------------

def _poison_reconstruction(monkeypatch):
  monkeypatch.setattr(phases.VAEPhase, 'per_example', poisoned_per_example(phases.VAEPhase.per_example))


def test_nonfinite_stop_names_step_term_and_checkpoint(tmp_path, monkeypatch):
  _poison_reconstruction(monkeypatch)
  with tfds.testing.mock_data(num_examples=16):
    with pytest.raises(trainer.TrainingError,
                       match='non-finite reconstruction, loss at step 1; last good checkpoint: none yet'):
      trainer.train_and_evaluate(train_config('vae', steps=4, nonfinite='stop'), str(tmp_path))
  manager = checkpoints.checkpoint_manager(os.path.join(tmp_path, 'vae', 'checkpoints'), 3)
  assert manager.latest_step() is None  # nothing non-finite was saved


def test_nonfinite_skip_keeps_parameters_and_stops_after_n(tmp_path, monkeypatch):
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(train_config('vae', steps=2, checkpoint_every_steps=2), str(tmp_path))
    _, good = latest_state(str(tmp_path), 'vae')
    _poison_reconstruction(monkeypatch)
    # Steps 3, 4, 5 are non-finite: skipped (never saved), then the run stops.
    with pytest.raises(trainer.TrainingError, match=r'at step 5; last good checkpoint: .*vae/checkpoints/2 '
                                                   r'\(3 consecutive steps skipped\)'):
      trainer.train_and_evaluate(train_config('vae', steps=10, checkpoint_every_steps=2, nonfinite='skip',
                                         max_consecutive_nonfinite=3), str(tmp_path))
  step, state = latest_state(str(tmp_path), 'vae')
  assert step == 2
  assert_trees_equal(state['params'], good['params'])


def test_nonfinite_step_leaves_state_unchanged():
  config = train_config('vae')
  phase = phases.build(config, (8, 8, 1))
  tx = train_lib.make_optimizer(config, steps_per_epoch=10)
  images = np.random.default_rng(0).integers(0, 256, (8, 8, 8, 1), dtype=np.uint8)
  variables = jax.device_get(jax.jit(phase.init)(jax.random.PRNGKey(0), images / 256.0))
  mesh = sharding.make_mesh(1)
  state = sharding.replicate(train_lib.create_state(variables, phase.spec.trainable, tx), mesh)
  before = jax.device_get((state.params, state.opt_state))
  original = phase.per_example
  phase.per_example = lambda v, x, r: {**original(v, x, r), 'objective': original(v, x, r)['objective'] * np.inf}
  step = train_lib.make_train_step(phase, tx, mesh)
  state, metrics = step(state, sharding.shard_batch(images, mesh), jax.random.PRNGKey(1))
  assert not bool(metrics['finite']) and int(state.step) == 1
  assert_trees_equal(jax.device_get((state.params, state.opt_state)), before)


# Preemption and kills ----------------------------------------------------------------

def _in_main_thread():
  import threading
  if threading.current_thread() is not threading.main_thread():
    pytest.skip('signal handlers can only be set from the main thread')


def test_a_first_ctrl_c_asks_for_a_checkpoint_and_a_second_stops_at_once():
  _in_main_thread()
  before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  with signals_lib.StopSignal() as stop:
    assert not stop.reached(1) and not stop.received
    os.kill(os.getpid(), signal.SIGINT)
    assert stop.reached(2) and stop.describe() == 'Ctrl-C'
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)
  assert {s: signal.getsignal(s) for s in before} == before
  with signals_lib.StopSignal() as stop:
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.reached(1) and stop.describe() == 'SIGTERM'
    os.kill(os.getpid(), signal.SIGINT)  # after a SIGTERM, a Ctrl-C is the first one: no raise
    assert stop.describe() == 'SIGTERM'


def test_with_several_processes_ctrl_c_becomes_sigterm_for_jaxs_preemption_notifier():
  """JAX's notifier owns SIGTERM there: Ctrl-C is passed on as SIGTERM to this process, and
  only the sync point (every process's agreement) decides the step."""
  _in_main_thread()
  got = []
  previous = signal.signal(signal.SIGTERM, lambda *_: got.append('SIGTERM'))
  sync = type('Sync', (), {'reached': lambda self, step: step >= 5})()
  try:
    with signals_lib.StopSignal(sync) as stop:
      assert signal.getsignal(signal.SIGTERM) is not stop._handle
      os.kill(os.getpid(), signal.SIGINT)
      assert got == ['SIGTERM'] and stop.describe() == 'Ctrl-C'
      assert not stop.reached(4) and stop.reached(5)
    with signals_lib.StopSignal(sync) as stop:  # stopped by another process's notice
      assert stop.reached(5) and stop.describe() == 'SIGTERM'
  finally:
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.slow  # trains in a subprocess
@pytest.mark.parametrize('signum,code,name', [(signal.SIGTERM, 143, 'SIGTERM'),
                                              (signal.SIGINT, 130, 'Ctrl-C')])
def test_a_signal_writes_one_final_checkpoint_then_one_line_and_the_rerun_resumes(
    tmp_path, signum, code, name):
  proc = _cli(tmp_path, '--config.num_train_steps=100000', '--config.checkpoint_every_steps=100000',
              '--config.log_every_steps=1', wait=False)
  wait_for_line(proc, 'train/loss')
  proc.send_signal(signum)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == code, out
  errors = [line for line in out.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and 'Traceback' not in out, out[-3000:]
  stopped = int(re.search(rf'^error: stopped by {name} at step (\d+); last checkpoint: \S+/(\d+);',
                          errors[0]).group(1))
  checkpoints_dir = tmp_path / 'vae' / 'checkpoints'
  # One, whole, at the stop step, with its fingerprints.
  assert sorted(os.listdir(checkpoints_dir)) == [str(stopped), 'fingerprints']
  assert os.listdir(checkpoints_dir / 'fingerprints') == [f'{stopped}.json']
  rerun = _cli(tmp_path, f'--config.num_train_steps={stopped + 2}')
  assert rerun.returncode == 0, rerun.stdout + rerun.stderr
  assert f'resumed vae from step {stopped}' in rerun.stderr
  assert latest_state(str(tmp_path), 'vae')[0] == stopped + 2


@pytest.fixture
def small_disk(tmp_path):
  """A 1.5 MB tmpfs (root only): a tiny run's second or third checkpoint does not fit."""
  mount = tmp_path / 'disk'
  mount.mkdir()
  done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1500k', 'tmpfs', str(mount)],
                        capture_output=True, text=True)
  if done.returncode:
    pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
  yield mount
  # A read-only remount mid-run is refused while the run has files open ("target is busy"), so
  # only a full disk is tested; a read-only folder takes the same path (EROFS, EACCES).
  subprocess.run(['umount', '--lazy', str(mount)], check=True)


@pytest.mark.slow  # trains in a subprocess
def test_a_full_disk_is_one_line_leaves_no_temporary_and_the_rerun_resumes(small_disk):
  workdir = small_disk / 'run'
  args = ['--config.num_train_steps=40', '--config.checkpoint_every_steps=2',
          '--config.keep_checkpoints=20', '--config.sample_every_steps=1000']
  full = _cli(workdir, *args)
  assert full.returncode == 2, full.stdout + full.stderr[-3000:]
  errors = [line for line in full.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and 'Traceback' not in full.stderr, full.stderr[-3000:]
  assert re.match(r'error: cannot write \S+ \(No space left on device; [\d.]+ MB free there, a '
                  r'checkpoint needs about [\d.]+ MB\); .* resumes from its last complete '
                  r'checkpoint, \S+/checkpoints/(\d+)\.$', errors[0]), errors[0]
  last = int(errors[0].rsplit('/', 1)[1].rstrip('.'))
  names = os.listdir(workdir / 'vae' / 'checkpoints')
  assert not [n for n in names if 'tmp' in n] and str(last) in names
  subprocess.run(['mount', '-o', 'remount,size=20m', str(small_disk)], check=True)
  rerun = _cli(workdir, *args)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert f'resumed vae from step {last}' in rerun.stderr
  assert latest_state(str(workdir), 'vae')[0] == 40


# The kill -9 tests' run: 10 steps, a checkpoint every 2.
KILL9_ARGS = ['--config.num_train_steps=10', '--config.checkpoint_every_steps=2',
              '--config.log_every_steps=1']


@pytest.fixture
def straight_run(tmp_path_factory):
  """KILL9_ARGS trained uninterrupted in a local work directory, once per session (the reference
  of this module's kill -9 test and test_object_storage_runs.py's). -> its work directory."""
  def make(directory):
    done = _cli(directory, *KILL9_ARGS)
    assert done.returncode == 0, done.stdout + done.stderr
  return once_per_session(tmp_path_factory, 'kill9_straight_run', make)


@pytest.mark.slow  # trains in a subprocess
def test_kill9_at_random_points_then_resume_matches_uninterrupted_run(tmp_path, straight_run):
  args = KILL9_ARGS
  rng = random.Random(0)
  killed = tmp_path / 'killed'
  # Kill once right as a save starts, then at a random moment of training.
  for marker in ('saving checkpoint', 'train/loss'):
    proc = _cli(killed, *args, wait=False)
    wait_for_line(proc, marker)
    if marker == 'train/loss':
      time.sleep(rng.uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  final = _cli(killed, *args)
  assert final.returncode == 0, final.stdout + final.stderr
  step_a, a = latest_state(str(straight_run), 'vae')
  step_b, b = latest_state(str(killed), 'vae')
  assert step_a == step_b == 10
  assert_trees_equal(a['params'], b['params'])
  assert_trees_equal(a['opt_state'], b['opt_state'])


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
  result = _cli(tmp_path, '--config.learnign_rate=0.1')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      "error: unknown config key 'learnign_rate'; did you mean 'learning_rate'?")
  assert 'Traceback' not in result.stderr
  result = _cli(tmp_path, '--config.data.n_bits=9')
  assert result.returncode == 2 and 'Traceback' not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == 'error: data.n_bits must be in 1..8, got 9.'
  assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # trains in subprocesses, on the real (offline) Fashion-MNIST
def test_a_damaged_checkpoint_is_one_line_stepped_over_or_stopped_at(tmp_path):
  """A damaged step is one line on stderr, nothing else before it (not the mesh log line, logged
  after the restore, nor TensorFlow's import notices, nor Orbax's threads' tracebacks): with
  on_damaged_checkpoint='stop' an error (exit 2); by default a warning, the step moved aside and
  the run resumed from the one before it."""
  run = [sys.executable, '-m', 'experiments.train', '--config=tests/configs/tiny.py',
         f'--workdir={tmp_path}', '--config.checkpoint_every_steps=2']
  env = {**os.environ, 'XLA_FLAGS': xla_flags(1)}
  first = subprocess.run([*run, '--config.num_train_steps=4'], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
  assert first.returncode == 0, first.stderr[-3000:]
  step_dir = tmp_path / 'vae' / 'checkpoints' / '4'
  for root, _, files in os.walk(step_dir):
    for name in files:
      if name not in ('_CHECKPOINT_METADATA', 'commit_success.txt'):
        os.truncate(os.path.join(root, name), 10)
  stop = subprocess.run([*run, '--config.num_train_steps=8', '--config.on_damaged_checkpoint=stop'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert stop.returncode == 2
  lines = stop.stderr.splitlines()
  assert len(lines) == 1 and re.fullmatch(
      rf'error: checkpoint {re.escape(str(step_dir))} is damaged: .* differ from the checksums '
      r'saved with it; move that step folder aside to resume from the checkpoint before it \(or '
      r'set --config.on_damaged_checkpoint=fall_back to have the run do so\)\.', lines[0]), stop.stderr
  again = subprocess.run([*run, '--config.num_train_steps=8'], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'Traceback' not in again.stderr and again.stderr.count('is damaged') == 1
  assert 'moved it to' in again.stderr and (tmp_path / 'vae' / 'damaged_checkpoints' / '4').is_dir()
  assert sorted(os.listdir(tmp_path / 'vae' / 'checkpoints')) == ['4', '6', '8', 'fingerprints']