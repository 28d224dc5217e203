"""Bad inputs a new user tries: each one line that says what is wrong and how to fix it, and
nothing in the work directory changes (README, "Bad input")."""

import json
import os
import shutil
import subprocess
import sys
import types

import pytest
from absl import flags
from ml_collections import config_flags

from vaeglow_jax.cli import common as cli
from tests.helpers import ROOT, snapshot, train_config
from vaeglow_jax.config import history
from vaeglow_jax.config import resume
from vaeglow_jax.runtime import sharding
from vaeglow_jax.evaluation import report
from vaeglow_jax.training import trainer
from vaeglow_jax.errors import UserError
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.errors import WorkdirError



@pytest.fixture(scope='module')
def phase1(tmp_path_factory):
  import tensorflow_datasets as tfds
  workdir = str(tmp_path_factory.mktemp('bad_inputs') / 'run')
  with tfds.testing.mock_data(num_examples=64):
    trainer.train_and_evaluate(train_config('vae', steps=2, num_devices=1), workdir)
  return workdir


def _refused(workdir, config, match):
  import tensorflow_datasets as tfds
  before = snapshot(workdir)
  with tfds.testing.mock_data(num_examples=64), pytest.raises(UserError, match=match) as e:
    trainer.train_and_evaluate(config, workdir)
  assert snapshot(workdir) == before
  assert '\n' not in str(e.value)
  return str(e.value)



def test_resuming_with_another_model_names_the_key_and_never_advises_deleting(phase1):
  message = _refused(phase1, train_config('vae', steps=4, num_devices=1, **{'model.latent_dim': 8}),
                     r'model\.latent_dim=8 \(trained with 4\)')
  assert 'delete' not in message and 'new --workdir' in message
  # Options that only change how a step is computed may change on resume.
  assert resume.config_differences(
      train_config('vae', **{'model.prior.unroll': 1}),
      workdir_lib.saved_config(phase1, 'vae'), {resume.ENCODER_DECODER, 'prior'}) == []


def test_phase2_with_another_phase1_model_is_refused(phase1):
  _refused(phase1, train_config('glow', num_devices=1, **{'model.base_channels': 4}),
           r"phase 'glow' must use the model of its phase 1 .*model\.base_channels=4 \(trained with 8\)")


def test_a_post_hoc_prior_may_change_the_prior_but_not_the_decoder(phase1):
  """The 'prior' phase trains a fresh prior: its kind may differ from phase 1's."""
  config = train_config('prior', num_devices=1, **{'model.prior.kind': 'standard'})
  assert resume.config_differences(config, workdir_lib.saved_config(phase1, 'vae'),
                                  {resume.ENCODER_DECODER}) == []


def test_stage1_workdir_that_is_a_phase_folder_names_its_parent(phase1, tmp_path):
  config = train_config('glow', num_devices=1, stage1_workdir=os.path.join(phase1, 'vae'))
  _refused(str(tmp_path), config, f'is a phase folder .*--config.stage1_workdir={phase1}')


@pytest.mark.parametrize('edit, match', [
    (lambda text: text[:100], r'config\.json is not valid JSON \(.* at line \d+'),
    (lambda text: text.replace('"latent_dim": 4', '"latent_dim": "four"'),
     r"model\.latent_dim is 'four' \(str\) but must be an int"),
    (lambda text: '[1, 2]', 'holds a list, not a config object'),
])
def test_a_damaged_config_json_is_one_line(phase1, tmp_path, edit, match):
  workdir = str(tmp_path / 'copy')
  shutil.copytree(phase1, workdir)
  path = workdir_lib.config_path(workdir, 'vae')
  with open(path) as f:
    text = f.read()
  with open(path, 'w') as f:
    f.write(edit(text))
  with pytest.raises(WorkdirError, match=match):
    history.trained_config(workdir, 'vae', train_config())


def test_config_json_is_written_whole(tmp_path):
  path = str(tmp_path / 'config.json')
  files_lib.write_text_atomic(path, '{"a": 1}')
  assert json.load(open(path)) == {'a': 1} and os.listdir(tmp_path) == ['config.json']


def test_an_unknown_preset_is_the_config_files_own_line():
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=flag_values)
  with pytest.raises(Exception) as e:  # noqa: B017 - whatever ml_collections raises
    flag_values(['x', '--config=experiments/configs/cifar10.py:test'])
  assert cli.one_line(e.value) == ("flag --config=experiments/configs/cifar10.py:test: unknown "
                                   "preset 'test'; This config has: default, quick, e.g. "
                                   "--config=fashion_mnist:quick.")
  with pytest.raises(Exception) as e:  # noqa: B017
    flag_values(['x', f'--config={cli.CONFIGS_DIR}/fashion_mnist.py:quik'])  # a name, resolved
  assert cli.one_line(e.value) == ("flag --config=fashion_mnist:quik: unknown preset 'quik'; did "
                                   "you mean 'quick'? This config has: default, quick, smoke, "
                                   "tiny, e.g. --config=fashion_mnist:quick.")


def test_the_evaluation_batch_hint_names_the_evaluation_key(tmp_path):
  with pytest.raises(sharding.BatchSizeError, match=r'set --config\.eval\.batch_size to a multiple of 2'):
    sharding.check_batch_size(7, types.SimpleNamespace(size=2), 'eval.batch_size')
  # evaluate's own checks, before it reads anything: the hint names eval.batch_size.
  from vaeglow_jax.evaluation import evaluator
  config = train_config('glow', steps=4, num_devices=2)
  config.eval.batch_size = 7
  with pytest.raises(sharding.BatchSizeError, match=r'set --config\.eval\.batch_size to a multiple'):
    evaluator.evaluate(config, str(tmp_path / 'run'), log=lambda *_: None)


def test_a_user_error_is_printed_once():
  result = subprocess.run([sys.executable, '-m', 'experiments.train',
                           '--config=tests/configs/tiny.py', '--workdir=/nonexistent',
                           '--config.learning_rate=-1'], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 2
  lines = [line for line in result.stderr.splitlines() if 'learning_rate must be positive' in line]
  assert len(lines) == 1 and lines[0].startswith('error: ')


def test_a_report_without_fid_says_nothing_about_fid():
  rows = [{'workdir': 'w', 'phase': 'vae', 'test_bpd_elbo': 5.0, 'test_bpd_iw': 4.9,
           'iw_samples': 4, 'num_fid_samples': 100}]
  table = report.markdown_table(rows)
  assert 'None' not in table and 'FID from' not in table
  row = next(line for line in table.splitlines() if '`w`' in line)  # the row is there, whole
  assert '| 5.000 |' in row and '| 4.900 (K=4) |' in row


def test_resuming_past_the_end_is_refused_and_a_finished_run_keeps_its_record(phase1):
  """config.json must describe the checkpoints beside it: a rerun that trains nothing never
  rewrites it (before: num_train_steps=1 over a step-2 checkpoint exited 0 and wrote 1)."""
  _refused(phase1, train_config('vae', steps=1, num_devices=1),
           r'vae is already at step 2, past num_train_steps=1; to train on, give '
           r'--config\.num_train_steps above 2; for a shorter run, give a new --workdir\.')
  import tensorflow_datasets as tfds
  before = snapshot(phase1)
  with tfds.testing.mock_data(num_examples=64):  # at its end: nothing to do, nothing written
    assert trainer.train_and_evaluate(
        train_config('vae', steps=2, num_devices=1, learning_rate=0.1), phase1) == []
  unlocked = lambda snap: {k: v for k, v in snap.items() if not k.endswith('.lock')}  # noqa: E731
  assert unlocked(snapshot(phase1)) == unlocked(before)  # the lock file holds the last pid
  assert workdir_lib.saved_config(phase1, 'vae')['learning_rate'] == 3e-3


def _parse_error(*argv):
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=flag_values)
  with pytest.raises(Exception) as e:  # noqa: B017 - whatever ml_collections raises
    flag_values(['x', *argv])
  return cli.one_line(e.value)


def test_a_preset_for_a_config_file_without_presets_says_so():
  assert _parse_error('--config=tests/configs/tiny.py:quick') == (
      'flag --config=tests/configs/tiny.py:quick: tests/configs/tiny.py has no presets; give '
      '--config=tests/configs/tiny.py.')


def test_a_value_of_the_wrong_type_is_quoted_whole():
  assert cli.one_line(ValueError("flag --config.num_train_steps=abc: invalid literal for int() "
                                 "with base 10: 'abc'")).endswith(": 'abc'")
  assert cli.one_line(ValueError("'quoted whole'")) == 'quoted whole'


def test_more_devices_than_there_are_is_one_line():
  import jax
  count = jax.device_count()
  for bad in (count + 1, -1):
    with pytest.raises(sharding.MeshError, match=rf'num_devices={bad}, but this run has {count} '
                       r'cpu device\(s\); set --config\.num_devices to 1\.\.'):
      sharding.make_mesh(bad)


def test_a_batch_the_devices_cannot_split_names_both_device_knobs():
  with pytest.raises(sharding.BatchSizeError) as e:
    sharding.check_batch_size(8, types.SimpleNamespace(size=3))
  assert str(e.value) == (
      'batch_size 8 must be a positive multiple of the device count 3; set --config.batch_size to '
      'a multiple of 3, or use a device count that divides 8: --config.num_devices, or on CPU '
      '--config.cpu_devices.')


def test_a_tilde_path_is_the_home_folder_never_a_folder_named_tilde(tmp_path):
  home = tmp_path / 'home'
  home.mkdir()
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.evaluate', '--workdir=~/runs/a',
       '--config.eval.feature_extractor_dir=~/fe'], cwd=tmp_path, capture_output=True, text=True,
      timeout=300, env={**os.environ, 'HOME': str(home), 'PYTHONPATH': ROOT})
  assert result.returncode == 2, result.stderr[-2000:]
  assert str(home / 'runs' / 'a') in result.stderr.strip().splitlines()[-1]
  assert not (tmp_path / '~').exists() and os.listdir(tmp_path) == ['home']
  config = train_config(stage1_workdir='~/p1')
  config.eval.feature_extractor_dir = '~'
  flag = types.SimpleNamespace(value=config)
  expanded = cli.config(flag)
  assert expanded.stage1_workdir == os.path.expanduser('~/p1')
  assert expanded.eval.feature_extractor_dir == os.path.expanduser('~')
  assert cli.expand_home('gs://b/~x') == 'gs://b/~x' and cli.expand_home('a/~') == 'a/~'


def test_phase_2_while_its_phase_1_is_still_training_is_refused(phase1):
  """Two runs on one work directory at once, phase 1 and phase 2: the Glow layer would train on
  a snapshot of a VAE that is still changing."""
  from vaeglow_jax.runtime import lock as lock_lib
  with lock_lib.phase_lock(workdir_lib.phase_dir(phase1, 'vae')):
    _refused(phase1, train_config('glow', num_devices=1),
             rf'phase vae is still training in {phase1}/vae \(pid {os.getpid()}\); start phase '
             "'glow' when it has finished")
  assert lock_lib.lock_holder(workdir_lib.phase_dir(phase1, 'vae')) is None


def test_an_empty_workdir_is_refused_not_the_current_folder(tmp_path):
  result = subprocess.run([sys.executable, '-m', 'experiments.train', '--workdir=',
                           f'--config={ROOT}/tests/configs/tiny.py'], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'PYTHONPATH': ROOT})
  assert result.returncode == 2 and result.stderr.strip().splitlines() == [
      "error: --workdir is empty; give the run's folder, e.g. --workdir=workdirs/run1 (it would "
      'otherwise be the current folder).'], result.stderr[-2000:]
  assert os.listdir(tmp_path) == []


def test_a_report_of_nothing_is_one_line_not_the_help():
  result = subprocess.run([sys.executable, '-m', 'experiments.report'], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 2 and result.stderr.strip().splitlines() == [
      'error: give at least one work directory (evaluated with experiments.evaluate), or '
      '--factorial=FOLDER.']


def test_reading_a_checkpoint_prints_no_warning_that_reads_as_an_error(phase1, caplog):
  """Evaluation, sampling and phase 2 read checkpoints read-only: Orbax's warnings about it are
  either avoided at the source (options it would reset) or dropped by the commands' filter."""
  import logging
  from vaeglow_jax.io import checkpoints
  with caplog.at_level(logging.WARNING):
    manager = checkpoints.checkpoint_manager(workdir_lib.checkpoints_dir(phase1, 'vae'), 1,
                                             read_only=True)
    checkpoints.read(manager, manager.latest_step())
  warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
  assert warnings and all(str(r.msg).startswith(cli._QuietLibraries.EXPECTED) for r in warnings), [
      r.getMessage() for r in warnings]
  assert not any(cli._QuietLibraries().filter(r) for r in warnings)
  other = logging.LogRecord('absl', logging.WARNING, '/x/orbax/y.py', 1, 'Something else', (), None)
  assert cli._QuietLibraries().filter(other)
