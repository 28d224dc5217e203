"""Work-directory layout and evaluation from the trained config (no --config)."""

import os
import subprocess
import sys

import pytest

from tests.xla_env import xla_flags
from tests.config.test_history import _trained
from tests.helpers import ROOT
from vaeglow_jax.io import workdir
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.errors import WorkdirError



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
  files_lib.write_json_atomic(files_lib.join(target, 'x.json'), {'k': [1, 2]})
  files_lib.write_npz_atomic(files_lib.join(target, 'x.npz'), {'x': np.arange(6, dtype=np.uint8)})
  files_lib.write_png(files_lib.join(target, 'x.png'), np.full((3, 4, 1), 7, np.uint8))
  assert files_lib.list_dir(target) == ['x.json', 'x.npz', 'x.png']  # no temporary files left
  assert files_lib.read_json(files_lib.join(target, 'x.json')) == {'k': [1, 2]}
  with np.load(files_lib.join(target, 'x.npz')) as f:
    np.testing.assert_array_equal(f['x'], np.arange(6))
  from PIL import Image
  image = np.asarray(Image.open(files_lib.join(target, 'x.png')))
  assert image.shape == (3, 4) and (image == 7).all()


def test_copy_tree_copies_every_file_but_the_skipped_folders(tmp_path):
  for name in ('x.bin', 'eval/glow/a.png', 'eval/glow+prior/b.png', 'eval/metrics.json'):
    (tmp_path / 'src' / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / 'src' / name).write_text(name)
  copied = files_lib.copy_tree(tmp_path / 'src', tmp_path / 'dst', skip=('eval/glow',))
  # 'eval/glow' skips that folder only, not its name's prefix ('eval/glow+prior').
  assert copied == ['eval/glow+prior/b.png', 'eval/metrics.json', 'x.bin']
  assert not (tmp_path / 'dst' / 'eval' / 'glow').exists()
  assert all((tmp_path / 'dst' / name).read_text() == name for name in copied)


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
  path = str(tmp_path / 'config.json')
  files_lib.write_text_atomic(path, 'old')

  def fail(*args):
    raise OSError('disk full')
  monkeypatch.setattr(files_lib.os, 'replace', fail)
  with pytest.raises(OSError):
    files_lib.write_text_atomic(path, 'new')
  assert files_lib.read_text(path) == 'old'


def test_read_json_names_a_damaged_file_and_missing_is_the_default(tmp_path):
  path = str(tmp_path / 'timing.json')
  assert files_lib.read_json(path, default={}) == {}
  files_lib.write_text_atomic(path, '{"wall_seconds": 1')
  with pytest.raises(WorkdirError, match='timing.json is not valid JSON'):
    files_lib.read_json(path)
  # No file there: under a file (a results folder's loose files) or a folder, as missing.
  assert files_lib.read_json(str(tmp_path / 'timing.json' / 'metrics.json'), 'none') == 'none'
  assert files_lib.read_json(str(tmp_path), 'none') == 'none'
  assert files_lib.list_dir(str(tmp_path / 'missing')) == []


def test_paths_may_be_urls():
  assert files_lib.join('gs://bucket/run', 'vae', 'config.json') == 'gs://bucket/run/vae/config.json'
  assert workdir.config_path('gs://bucket/run', 'glow') == 'gs://bucket/run/glow/config.json'
  assert files_lib.absolute('gs://bucket/run') == 'gs://bucket/run'
  assert not files_lib.is_local('gs://bucket/run') and files_lib.is_local('runs/a')
  assert files_lib.basename('gs://bucket/run/') == 'run'


# Where the library may open files itself: the training lock (flock, a local file; object storage
# has its own lock in the pods issue), the Inception weights file (not part of a work directory)
# and the commands' stderr (cli/common.py: a process's file descriptors, not a work directory).
_DIRECT_IO_ALLOWED = {'io/files.py', 'runtime/lock.py', 'evaluation/metrics/inception.py',
                      'cli/common.py'}


def test_only_the_files_module_touches_files():
  import pathlib
  import re
  import vaeglow_jax
  library = pathlib.Path(vaeglow_jax.__file__).parent
  # (PIL's Image.open of bytes already read through the work-directory module is not file I/O.)
  direct = re.compile(r'(?<!Image\.)\bopen\(|os\.(replace|makedirs|listdir|remove|rename)\b|'
                      r'\bglob\.|shutil\.|np\.load\(|np\.savez|epath\.Path\(|'
                      r'os\.path\.(isfile|isdir|exists|getmtime)|\.savefig\(|Image\.fromarray\(.*\.save\(')
  offenders = [f'{path.relative_to(library)}:{n}: {line.strip()}'
               for path in sorted(library.rglob('*.py'))
               if str(path.relative_to(library)) not in _DIRECT_IO_ALLOWED
               for n, line in enumerate(path.read_text().splitlines(), 1) if direct.search(line)]
  assert not offenders, 'file I/O outside vaeglow_jax/io/files.py:\n' + '\n'.join(offenders)
