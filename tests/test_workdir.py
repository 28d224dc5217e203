"""Work-directory layout and evaluation from the trained config (no --config)."""

import json
import os
import subprocess
import sys

import pytest
from flax import traverse_util

from experiments.configs import fashion_mnist, from_workdir
from tests.xla_env import xla_flags
from vaeglow_jax import workdir
from vaeglow_jax.reliability import WorkdirError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _trained(tmp_path, phase='glow'):
  """A work directory with config.json written as the trainer writes it."""
  config = fashion_mnist.get_config('quick')
  config.phase = phase
  config.model.glow.hidden = 48
  config.model.glow.mixing = 'reverse'
  config.eval.temperatures = (0.0, 0.7)
  config.learning_rate = 3e-4
  os.makedirs(workdir.phase_dir(str(tmp_path), phase))
  with open(workdir.config_path(str(tmp_path), phase), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))
  return config


def test_trained_config_is_the_config_that_was_trained(tmp_path):
  config = _trained(tmp_path)
  loaded = workdir.trained_config(str(tmp_path), 'glow', from_workdir.get_config())
  assert loaded.to_dict() == config.to_dict()
  assert isinstance(loaded.eval.temperatures, tuple) and loaded.model.glow.hidden == 48


def test_keys_newer_than_the_run_keep_their_defaults_and_removed_keys_are_dropped(tmp_path):
  _trained(tmp_path)
  path = workdir.config_path(str(tmp_path), 'glow')
  with open(path) as f:
    saved = json.load(f)
  del saved['model']['gamma']          # a run from before model.gamma existed
  saved['model']['retired_knob'] = 3   # a key this code no longer has
  with open(path, 'w') as f:
    json.dump(saved, f)
  base = from_workdir.get_config()
  loaded = workdir.trained_config(str(tmp_path), 'glow', base)
  assert loaded.model.gamma.to_dict() == base.model.gamma.to_dict()
  assert 'retired_knob' not in loaded.model and loaded.model.glow.hidden == 48


@pytest.mark.parametrize('key,then', [
    ('model.glow.mixing', 'none'),  # today 'shuffle'; runs before it had no mixing
    ('model.conv_impl', 'xla'),  # today 'auto' (sub-pixel on CPU); before, nn.ConvTranspose's
])
def test_a_run_from_before_a_key_existed_is_rebuilt_as_it_was_trained(tmp_path, key, then):
  # A rebuilt model must compute what the trained one computed, whatever today's default is.
  _trained(tmp_path)
  path = workdir.config_path(str(tmp_path), 'glow')
  with open(path) as f:
    saved = json.load(f)
  base = from_workdir.get_config()
  value = lambda config: traverse_util.flatten_dict(config.to_dict(), sep='.')[key]  # noqa: E731
  trained = lambda: value(workdir.trained_config(str(tmp_path), 'glow', base))  # noqa: E731
  assert value(base) != then == workdir.LEGACY_VALUES[key]
  *groups, name = key.split('.')
  saved_group = saved
  for group in groups:
    saved_group = saved_group[group]
  assert trained() == saved_group[name]  # a saved value always wins
  del saved_group[name]
  with open(path, 'w') as f:
    json.dump(saved, f)
  assert trained() == then


def test_the_launch_of_a_multi_process_run_is_not_read_back(tmp_path):
  """A 2-process training run saved its coordinator and process id; an evaluation is launched
  anew (here as one process), so they keep the defaults, and may be set as overrides."""
  config = fashion_mnist.get_config('quick')
  config.phase = 'vae'
  config.multihost = True
  config.num_devices = 1  # e.g. trained on one device of two processes' four
  config.distributed.update(coordinator_address='10.0.0.7:4321', num_processes=2, process_id=1)
  os.makedirs(workdir.phase_dir(str(tmp_path), 'vae'))
  with open(workdir.config_path(str(tmp_path), 'vae'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2))
  base = from_workdir.get_config()
  loaded = workdir.trained_config(str(tmp_path), 'vae', base)
  assert loaded.multihost is False and loaded.num_devices == base.num_devices == 0
  assert loaded.distributed.to_dict() == base.distributed.to_dict()
  assert loaded.model.to_dict() == config.model.to_dict()
  out = workdir.with_overrides(loaded, {'distributed.num_processes': 2, 'multihost': True})
  assert out.distributed.num_processes == 2 and out.multihost is True


def test_only_evaluation_keys_may_be_overridden(tmp_path):
  _trained(tmp_path)
  loaded = workdir.trained_config(str(tmp_path), 'glow', from_workdir.get_config())
  out = workdir.with_overrides(loaded, {'eval.iw_samples': 4, 'sampling.temperature': 0.3,
                                        'phase': 'glow'})
  assert out.eval.iw_samples == 4 and out.sampling.temperature == 0.3
  with pytest.raises(WorkdirError, match=r'--config.model.latent_dim cannot change at evaluation'):
    workdir.with_overrides(loaded, {'model.latent_dim': 3})


def test_missing_phase_is_one_clear_error(tmp_path):
  with pytest.raises(WorkdirError, match=r"no trained phase 'vae' in .*config.json is missing"):
    workdir.trained_config(str(tmp_path), 'vae', from_workdir.get_config())


def _evaluate_cli(*args):
  env = {**os.environ, 'XLA_FLAGS': xla_flags(1)}
  return subprocess.run([sys.executable, '-m', 'experiments.evaluate', *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def test_evaluate_without_config_refuses_a_model_override_in_one_line(tmp_path):
  _trained(tmp_path)
  before = sorted(os.listdir(tmp_path))
  result = _evaluate_cli(f'--workdir={tmp_path}', '--config.phase=glow', '--config.model.latent_dim=3')
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith('error: --config.model.latent_dim cannot change at evaluation'), lines
  assert 'Traceback' not in result.stderr and sorted(os.listdir(tmp_path)) == before


# The I/O layer -------------------------------------------------------------------

def test_atomic_writes_leave_only_the_target_and_round_trip(tmp_path):
  import numpy as np
  target = str(tmp_path / 'a' / 'b')  # parents are created
  workdir.write_json_atomic(workdir.join(target, 'x.json'), {'k': [1, 2]})
  workdir.write_npz_atomic(workdir.join(target, 'x.npz'), {'x': np.arange(6, dtype=np.uint8)})
  workdir.write_png(workdir.join(target, 'x.png'), np.full((3, 4, 1), 7, np.uint8))
  assert workdir.list_dir(target) == ['x.json', 'x.npz', 'x.png']  # no temporary files left
  assert workdir.read_json(workdir.join(target, 'x.json')) == {'k': [1, 2]}
  with np.load(workdir.join(target, 'x.npz')) as f:
    np.testing.assert_array_equal(f['x'], np.arange(6))
  from PIL import Image
  image = np.asarray(Image.open(workdir.join(target, 'x.png')))
  assert image.shape == (3, 4) and (image == 7).all()


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
  path = str(tmp_path / 'config.json')
  workdir.write_text_atomic(path, 'old')

  def fail(*args):
    raise OSError('disk full')
  monkeypatch.setattr(workdir.os, 'replace', fail)
  with pytest.raises(OSError):
    workdir.write_text_atomic(path, 'new')
  assert workdir.read_text(path) == 'old'


def test_read_json_names_a_damaged_file_and_missing_is_the_default(tmp_path):
  path = str(tmp_path / 'timing.json')
  assert workdir.read_json(path, default={}) == {}
  workdir.write_text_atomic(path, '{"wall_seconds": 1')
  with pytest.raises(WorkdirError, match='timing.json is not valid JSON'):
    workdir.read_json(path)
  # No file there: under a file (a results folder's loose files) or a folder, as missing.
  assert workdir.read_json(str(tmp_path / 'timing.json' / 'metrics.json'), 'none') == 'none'
  assert workdir.read_json(str(tmp_path), 'none') == 'none'
  assert workdir.list_dir(str(tmp_path / 'missing')) == []


def test_paths_may_be_urls():
  assert workdir.join('gs://bucket/run', 'vae', 'config.json') == 'gs://bucket/run/vae/config.json'
  assert workdir.config_path('gs://bucket/run', 'glow') == 'gs://bucket/run/glow/config.json'
  assert workdir.absolute('gs://bucket/run') == 'gs://bucket/run'
  assert not workdir.is_local('gs://bucket/run') and workdir.is_local('runs/a')
  assert workdir.basename('gs://bucket/run/') == 'run'


# Where the library may open files itself: the training lock (flock, a local file; object storage
# has its own lock in the pods issue) and the Inception weights file (not part of a work directory).
_DIRECT_IO_ALLOWED = {'workdir.py', 'reliability.py', 'inception.py'}


def test_only_the_workdir_module_touches_files():
  import pathlib
  import re
  library = pathlib.Path(workdir.__file__).parent
  # (PIL's Image.open of bytes already read through the work-directory module is not file I/O.)
  direct = re.compile(r'(?<!Image\.)\bopen\(|os\.(replace|makedirs|listdir|remove|rename)\b|'
                      r'\bglob\.|shutil\.|np\.load\(|np\.savez|epath\.Path\(|'
                      r'os\.path\.(isfile|isdir|exists|getmtime)|\.savefig\(|Image\.fromarray\(.*\.save\(')
  offenders = [f'{path.relative_to(library)}:{n}: {line.strip()}'
               for path in sorted(library.rglob('*.py')) if path.name not in _DIRECT_IO_ALLOWED
               for n, line in enumerate(path.read_text().splitlines(), 1) if direct.search(line)]
  assert not offenders, 'file I/O outside vaeglow_jax/workdir.py:\n' + '\n'.join(offenders)
