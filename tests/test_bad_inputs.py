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

from experiments import cli
from tests.helpers import snapshot, train_config
from vaeglow_jax import sharding
from vaeglow_jax.evaluation import report
from vaeglow_jax.training import trainer
from vaeglow_jax.errors import UserError
from vaeglow_jax import workdir as workdir_lib
from vaeglow_jax.reliability import WorkdirError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
  assert trainer.config_differences(
      train_config('vae', **{'model.prior.unroll': 1}),
      workdir_lib.saved_config(phase1, 'vae'), {'vae', 'prior'}) == []


def test_phase2_with_another_phase1_model_is_refused(phase1):
  _refused(phase1, train_config('glow', num_devices=1, **{'model.base_channels': 4}),
           r"phase 'glow' must use the model of its phase 1 .*model\.base_channels=4 \(trained with 8\)")


def test_a_post_hoc_prior_may_change_the_prior_but_not_the_decoder(phase1):
  """The 'prior' phase trains a fresh prior: its kind may differ from phase 1's."""
  config = train_config('prior', num_devices=1, **{'model.prior.kind': 'standard'})
  assert trainer.config_differences(config, workdir_lib.saved_config(phase1, 'vae'), {'vae'}) == []


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
    workdir_lib.trained_config(workdir, 'vae', train_config())


def test_config_json_is_written_whole(tmp_path):
  path = str(tmp_path / 'config.json')
  workdir_lib.write_text_atomic(path, '{"a": 1}')
  assert json.load(open(path)) == {'a': 1} and os.listdir(tmp_path) == ['config.json']


def test_an_unknown_preset_is_the_config_files_own_line():
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=flag_values)
  with pytest.raises(Exception) as e:  # noqa: B017 - whatever ml_collections raises
    flag_values(['x', '--config=experiments/configs/cifar10.py:test'])
  assert cli.one_line(e.value) == ("flag --config=experiments/configs/cifar10.py:test: unknown "
                                   "preset 'test'; use 'default' or 'quick'.")


def test_the_evaluation_batch_hint_names_the_evaluation_key():
  with pytest.raises(sharding.BatchSizeError, match=r'set --config\.eval\.batch_size to a multiple of 2'):
    sharding.check_batch_size(7, types.SimpleNamespace(size=2), 'eval.batch_size')
  source = open(os.path.join(ROOT, 'vaeglow_jax', 'evaluation', 'evaluator.py')).read()
  assert "check_batch_size(config.eval.batch_size, mesh, 'eval.batch_size')" in source


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
