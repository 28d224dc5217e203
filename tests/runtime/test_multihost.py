"""Multi-process training: 2 local processes x 2 simulated CPU devices (gloo collectives)
against 1 process x 4 devices, same config and seed."""

import itertools
import json
import time

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests import mock_train
from tests.helpers import (assert_trees_equal, cli_config, finish, free_port, latest_state,
                           launch, once_per_session, process_flags, workdir_files)
from vaeglow_jax.io import checkpoints
from vaeglow_jax.runtime import distributed
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.evaluation import figures
from vaeglow_jax.training import trainer
from vaeglow_jax.io import workdir as workdir_lib

# Enough steps that a SIGTERM at the 3rd batch stops the run before its end (JAX's preemption
# sync point is one step past the furthest process).
STEPS = 8
ARGS = ['--config=tests/configs/tiny.py', '--config.data.allow_download=True',
        '--config.data.data_dir=/tmp/vaeglow_mock_unused', '--config.data.train_split=train',
        '--config.warmup_steps=0', f'--config.num_train_steps={STEPS}',
        '--config.log_every_steps=1', f'--config.checkpoint_every_steps={STEPS}',
        f'--config.sample_every_steps={STEPS}']


_LOG_NUMBERS = itertools.count()


def _launch(workdir, devices, *extra, env_extra=None, log=None):
  """A training process on mock data, its output in `log` (default: a numbered file beside
  workdir). -> (Popen, log path)."""
  return launch(['tests.mock_train', f'--workdir={workdir}', *ARGS, *extra],
                log or f'{workdir}.{next(_LOG_NUMBERS)}.log', devices, env_extra)


# Adam's first steps move every parameter by ~lr whatever the gradient's size, so a sign flip of
# a near-zero gradient (another summation order) moves the loss by ~lr: small lr.
SMALL_LR = '--config.learning_rate=1e-4'


def _two_processes(workdir, *extra, env_extra_1=None):
  port = free_port()
  return [_launch(workdir, 2, *extra, *process_flags(port, i), env_extra=env_extra_1 if i else None)
          for i in range(2)]


@pytest.fixture
def two_process_run(tmp_path_factory):
  """ARGS trained by 2 processes x 2 devices, once per session: the uninterrupted run that two
  tests compare against. Process 0 takes its settings from the config keys, process 1 from the
  environment variables. -> (workdir, [output of process 0, of process 1])."""

  def make(directory):
    directory.mkdir()
    port = free_port()
    finish([_launch(directory / 'run', 2, SMALL_LR, *process_flags(port, 0),
                    log=directory / '0.log'),
            _launch(directory / 'run', 2, SMALL_LR, log=directory / '1.log',
                    env_extra={'JAX_COORDINATOR_ADDRESS': f'127.0.0.1:{port}',
                               'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': '1'})])

  directory = once_per_session(tmp_path_factory, 'two_process_run', make)
  return directory / 'run', [(directory / f'{i}.log').read_text() for i in range(2)]


@pytest.mark.slow
def test_two_processes_train_like_one_process_with_the_same_devices(request, tmp_path):
  single = tmp_path / 'one'
  # The reference: the same config in this process, which has the 4 devices of the two.
  with tfds.testing.mock_data(num_examples=mock_train.NUM_EXAMPLES):
    trainer.train_and_evaluate(cli_config([*ARGS, SMALL_LR]), str(single))
  # Asked for only now: another worker may be making it meanwhile.
  multi, outs = request.getfixturevalue('two_process_run')
  assert '2 processes, 4 cpu devices (2 local)' in outs[0], outs[0][-3000:]

  one = figures.read_scalars(str(single / 'vae'))['train/loss']
  two = figures.read_scalars(str(multi / 'vae'))['train/loss']
  assert [s for s, _ in one] == [s for s, _ in two] == list(range(1, STEPS + 1))
  # Another summation order: relative to the loss's scale (it passes near 0 on the way).
  scale = max(abs(v) for _, v in one)
  np.testing.assert_allclose([v for _, v in two], [v for _, v in one], rtol=1e-5, atol=1e-6 * scale)
  step_one, state_one = latest_state(str(single), 'vae')
  step_two, state_two = latest_state(str(multi), 'vae')
  assert step_one == step_two == STEPS
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6),
      state_one['params'], state_two['params'])
  # One set of work-directory files: process 1 wrote nothing of its own.
  assert workdir_files(multi) == workdir_files(single)

  # The phase-1 -> phase-2 hand-off under 2 processes: test_object_storage_runs.py (the same
  # processes, the work directory in a bucket).


# SIGTERM to one of two processes (both stop at one step, the rerun resumes bitwise to this
# module's two_process_run): test_object_storage_runs.py, with the work directory in a bucket.


# Short timeouts for the tests that lose a process (the defaults suit a pod: 100 s and 60 s).
FAST_LOSS = ['--config.distributed.heartbeat_timeout_seconds=10',
             '--config.distributed.shutdown_timeout_seconds=10']


@pytest.mark.slow
@pytest.mark.parametrize('storage', ['local', 'bucket'])
def test_a_killed_process_ends_the_other_in_bounded_time_and_an_immediate_rerun_resumes_bitwise(
    request, tmp_path, storage):
  """kill -9 of process 1 after the step-4 checkpoint (a preempted host): process 0 ends with one
  line and exit 75 within the heartbeat timeout, not JAX's C++ abort; the same commands run at
  once resume from step 4 and end bitwise where the uninterrupted two-process run ends. With the
  work directory in a bucket (the emulator): the lock is free at once, and no local temporary
  (the events' folder) is left."""
  temp = tmp_path / 'tmp'
  temp.mkdir()
  env = {'TMPDIR': str(temp)}
  if storage == 'bucket':
    gcs = request.getfixturevalue('gcs')
    env.update(gcs.env)
    workdir = gcs.make_bucket(f'killed-{free_port()}') + '/run'
  else:
    workdir = tmp_path / 'run'
  port = free_port()
  args = [SMALL_LR, *FAST_LOSS, '--config.checkpoint_every_steps=2']
  procs = [_launch(workdir, 2, *args, *process_flags(port, i),
                   env_extra={**env, 'VAEGLOW_TEST_SIGKILL_AT_BATCH': '5'} if i else env,
                   log=tmp_path / f'{i}.log')
           for i in range(2)]
  procs[1][0].wait(timeout=300)
  killed_at = time.monotonic()
  procs[0][0].wait(timeout=120)
  waited = time.monotonic() - killed_at
  out = open(procs[0][1]).read()
  assert [p.returncode for p, _ in procs] == [distributed.EXIT_PEER_LOST, -9], out[-3000:]
  errors = [line for line in out.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and errors[0].startswith(
      'error: process 0 of 2: lost process 1: killed, preempted or cut off'), out[-3000:]
  assert 'rerun the same commands' in errors[0] and 'Traceback' not in out
  assert waited < 10 + 10, waited  # the heartbeat timeout, and the watchdog's polling
  assert workdir_lib.finished_steps(workdir_lib.checkpoints_dir(str(workdir), 'vae')) == [2, 4]
  # Process 0 uploaded its events and removed their local folder before it exited (abort hooks).
  assert [p.name for p in temp.iterdir() if p.name.startswith('vaeglow_')] == []
  # ... and the events up to the last checkpoint (step 4) are in the work directory.
  scalars = figures.read_scalars(files_lib.join(str(workdir), 'vae'))
  logged = [step for step, _ in scalars['train/loss']]
  assert logged[:4] == [1, 2, 3, 4], logged

  started = time.monotonic()
  outs = finish([_launch(workdir, 2, *args, *process_flags(port, i), env_extra=env,
                         log=tmp_path / f'rerun{i}.log') for i in range(2)], timeout=300)
  assert 'resumed vae from step 4' in outs[0], outs[0][-3000:]
  assert time.monotonic() - started < 120  # no lock or barrier waits (they were 300 s)
  assert [p.name for p in temp.iterdir() if p.name.startswith('vaeglow_')] == []
  reference, _ = request.getfixturevalue('two_process_run')
  (step_a, a), (step_b, b) = latest_state(str(reference), 'vae'), latest_state(str(workdir), 'vae')
  assert step_a == step_b == STEPS
  assert_trees_equal(a['params'], b['params'])
  assert_trees_equal(a['opt_state'], b['opt_state'])


@pytest.mark.slow
def test_ctrl_c_on_one_process_stops_both_at_one_step_with_one_checkpoint(tmp_path):
  """A Ctrl-C reaching one process (a pod: it reaches the host it was typed on): that process
  exits 130, the other 143, both at the same step, and that step is the checkpoint."""
  workdir = tmp_path / 'run'
  port = free_port()
  procs = [_launch(workdir, 2, f'--config.num_train_steps={4 * STEPS}', *process_flags(port, i),
                   env_extra={'VAEGLOW_TEST_SIGINT_AT_BATCH': '3'} if i else None)
           for i in range(2)]
  outs = []
  for proc, log in procs:
    proc.wait(timeout=300)
    outs.append(open(log).read())
  assert [p.returncode for p, _ in procs] == [143, 130], outs[0][-2000:] + outs[1][-2000:]
  errors = [[line for line in out.splitlines() if line.startswith('error:')] for out in outs]
  assert errors[0][0].startswith('error: stopped by SIGTERM at step')
  assert errors[1][0].startswith('error: stopped by Ctrl-C at step')
  steps = [int(e[0].split(' at step ')[1].split(';')[0]) for e in errors]
  assert steps[0] == steps[1] < 4 * STEPS and all(len(e) == 1 for e in errors)
  assert workdir_lib.finished_steps(workdir_lib.checkpoints_dir(str(workdir), 'vae')) == [steps[0]]


@pytest.mark.slow
@pytest.mark.parametrize('process_1_flag,error', [
    ('--config.learning_rate=-1', 'error: process 1 of 2: learning_rate must be positive, got -1'),
    ('--config.seed=5', 'error: the config of process 1 of 2 differs from process 0'),
])
def test_a_bad_config_on_one_process_ends_both_with_the_same_line(tmp_path, process_1_flag, error):
  workdir = tmp_path / 'run'
  port = free_port()
  procs = [_launch(workdir, 2, *process_flags(port, 0)),
           _launch(workdir, 2, process_1_flag, *process_flags(port, 1))]
  outs = finish(procs, timeout=300, returncode=2)
  for out in outs:
    errors = [line for line in out.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and errors[0].startswith(error), out[-3000:]
    assert 'Traceback' not in out
  assert not workdir.exists()


@pytest.mark.slow
def test_a_nonfinite_step_on_one_process_stops_both_with_the_same_line(tmp_path):
  """Process 1's slice of every batch has a NaN reconstruction; the guard reads the global
  metrics, so both processes stop at step 1 with the same line, and nothing is saved."""
  workdir = tmp_path / 'run'
  port = free_port()
  procs = [_launch(workdir, 2, '--config.nonfinite=stop', *process_flags(port, i),
                   env_extra={'VAEGLOW_TEST_POISON_PROCESS': '1'}) for i in range(2)]
  outs = finish(procs, timeout=300, returncode=2)
  for out in outs:
    errors = [line for line in out.splitlines() if line.startswith('error:')]
    assert errors == ['error: non-finite reconstruction, loss at step 1; last good checkpoint: '
                      'none yet'], out[-3000:]
  assert not workdir_lib.has_checkpoint(workdir_lib.checkpoints_dir(str(workdir), 'vae'))


@pytest.mark.slow
def test_feature_extractor_trained_by_two_processes_is_the_one_of_one_process(tmp_path):
  """experiments.train_feature_extractor (tests/configs/tiny.py, Fashion-MNIST at 8x8) as 2 processes x 2
  devices and as 1 process: the same parameters, info file and files."""
  runs = {name: tmp_path / name for name in ('one', 'two')}
  args = ['experiments.train_feature_extractor', '--config=tests/configs/tiny.py']
  finish([launch([*args, f'--workdir={runs["one"]}'], f'{runs["one"]}.log', 1)])
  port = free_port()
  outs = finish([launch([*args, f'--workdir={runs["two"]}', *process_flags(port, i)],
                        f'{runs["two"]}.{i}.log', 2) for i in range(2)])
  assert 'test accuracy' in outs[0] and 'test accuracy' not in outs[1]  # process 0 reports
  infos = [json.loads((run / 'feature_extractor.json').read_text()) for run in runs.values()]
  assert infos[0] == infos[1] and infos[0]['num_test_examples'] == 10_000
  params = []
  for run in runs.values():
    manager = checkpoints.checkpoint_manager(str(run / 'checkpoints'), 1, read_only=True)
    params.append(checkpoints.restore_raw(manager))
  assert_trees_equal(params[0], params[1])
  assert workdir_files(runs['one']) == workdir_files(runs['two'])


def test_settings_come_from_the_config_then_the_environment():
  class Config(dict):
    get = dict.get

  env = {'JAX_COORDINATOR_ADDRESS': '10.0.0.1:1234', 'JAX_NUM_PROCESSES': '4', 'JAX_PROCESS_ID': '3'}
  assert distributed.settings(Config(coordinator_address='', num_processes=-1, process_id=-1),
                              env) == {'coordinator_address': '10.0.0.1:1234', 'num_processes': 4,
                                       'process_id': 3}
  assert distributed.settings(Config(coordinator_address='h:1', num_processes=2, process_id=0),
                              env) == {'coordinator_address': 'h:1', 'num_processes': 2,
                                       'process_id': 0}
  assert distributed.settings(Config(), {}) == {'coordinator_address': None, 'num_processes': None,
                                                'process_id': None}
  with pytest.raises(distributed.DistributedError, match=r'process_id must be in 0..1, got 2'):
    distributed.settings(Config(num_processes=2, process_id=2), {})
  with pytest.raises(distributed.DistributedError, match=r'JAX_NUM_PROCESSES\) must be int'):
    distributed.settings(Config(), {'JAX_NUM_PROCESSES': 'two'})


def test_a_barrier_timeout_names_the_process_that_did_not_arrive(tmp_path):
  """Process 1 reaches the barrier 5 s late, with a 2 s timeout: process 0's error names it;
  process 1, arriving after the barrier failed, says only that not everyone arrived."""
  port = free_port()
  procs = [launch(['tests.barrier_probe', str(port), str(i), '2', str(5 * i), '2'],
                  tmp_path / f'{i}.log', 1) for i in range(2)]
  outs = finish(procs, timeout=120, returncode=2)
  named = ("error: process 0 of 2: process 1 of 2 did not reach 'probe' within 2 s "
           '(DEADLINE_EXCEEDED: Barrier timed out); the first error is in the log of the process '
           'that did not arrive.')
  assert named in outs[0].splitlines(), outs[0][-2000:]
  assert "error: process 1 of 2: not every process reached 'probe' within 2 s" in outs[1]
  # Without a laggard, the same probe passes.
  port = free_port()
  outs = finish([launch(['tests.barrier_probe', str(port), str(i), '2', '0', '30'],
                        tmp_path / f'ok{i}.log', 1) for i in range(2)], timeout=120)
  assert all('passed' in out.splitlines() for out in outs)


@pytest.mark.slow
def test_a_maf_prior_trains_on_two_processes_like_one_process(tmp_path):
  """The MAF prior (model.prior.kind='maf') trained jointly with the VAE by 2 processes x 2
  devices gives the losses and parameters of 1 process x 4 devices."""
  maf = '--config.model.prior.kind=maf'
  with tfds.testing.mock_data(num_examples=mock_train.NUM_EXAMPLES):
    trainer.train_and_evaluate(cli_config([*ARGS, SMALL_LR, maf]), str(tmp_path / 'one'))
  finish(_two_processes(tmp_path / 'two', SMALL_LR, maf))
  one = figures.read_scalars(str(tmp_path / 'one' / 'vae'))['train/loss']
  two = figures.read_scalars(str(tmp_path / 'two' / 'vae'))['train/loss']
  assert [s for s, _ in one] == [s for s, _ in two] == list(range(1, STEPS + 1))
  scale = max(abs(v) for _, v in one)
  np.testing.assert_allclose([v for _, v in two], [v for _, v in one], rtol=1e-5, atol=1e-6 * scale)
  _, state_one = latest_state(str(tmp_path / 'one'), 'vae')
  _, state_two = latest_state(str(tmp_path / 'two'), 'vae')
  assert 'made' in state_one['params']['prior']['layers']['maf']
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6),
      state_one['params'], state_two['params'])


@pytest.mark.slow
def test_two_processes_step_over_a_damaged_checkpoint_alike(tmp_path):
  """A damaged step seen by both processes: process 0 moves it aside, both resume from the step
  before it and finish; with nothing that verifies, both stop with the same line."""
  workdir = tmp_path / 'run'
  finish(_two_processes(workdir, '--config.num_train_steps=4', '--config.checkpoint_every_steps=2'))
  metadata = workdir / 'vae' / 'checkpoints' / '4' / 'default' / '_METADATA'
  data = bytearray(metadata.read_bytes())
  data[len(data) // 2] ^= 0xFF
  metadata.write_bytes(bytes(data))
  outs = finish(_two_processes(workdir, '--config.num_train_steps=6',
                               '--config.checkpoint_every_steps=2'))
  for out in outs:
    assert 'checkpoints/4 is damaged' in out and 'resumed vae from step 2' in out, out[-3000:]
    assert 'Traceback' not in out
  assert (workdir / 'vae' / 'damaged_checkpoints' / '4').is_dir()
  assert workdir_lib.finished_steps(str(workdir / 'vae' / 'checkpoints')) == [2, 4, 6]
  # Every step damaged: both stop, the same one line, nothing trained from scratch.
  for step in (2, 4, 6):
    (workdir / 'vae' / 'checkpoints' / str(step) / 'commit_success.txt').write_text('x')
  outs = finish(_two_processes(workdir, '--config.num_train_steps=8'), returncode=2)
  for out in outs:
    errors = [line for line in out.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and 'verifies: step(s) 6, 4, 2 were damaged' in errors[0], out[-3000:]


@pytest.mark.slow
def test_a_checkpoint_one_process_reads_as_damaged_is_stepped_over_by_both(tmp_path):
  """Process 1 alone finds step 4 damaged (its copy of the replicated state differs): both agree,
  process 0 moves it aside, and both resume from step 2, the same step."""
  workdir = tmp_path / 'run'
  finish(_two_processes(workdir, '--config.num_train_steps=4', '--config.checkpoint_every_steps=2'))
  outs = finish(_two_processes(workdir, '--config.num_train_steps=6',
                               '--config.checkpoint_every_steps=2',
                               env_extra_1={'VAEGLOW_TEST_DAMAGED_STEP': '4'}), timeout=600)
  assert 'another process read arrays that differ' in outs[0], outs[0][-3000:]
  assert 'simulated on this process only' in outs[1], outs[1][-3000:]
  for out in outs:
    assert 'resumed vae from step 2' in out and 'Traceback' not in out, out[-3000:]
  assert (workdir / 'vae' / 'damaged_checkpoints' / '4').is_dir()
  assert workdir_lib.finished_steps(str(workdir / 'vae' / 'checkpoints')) == [2, 4, 6]
