"""Checkpoint fingerprints: what they are (sharding-invariant, every changed element seen), and
every damaged file of a saved checkpoint caught on local disk and on the storage emulator."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds
from jax.sharding import NamedSharding, PartitionSpec

from tests.helpers import ROOT, train_config
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.training import train as train_lib
from vaeglow_jax.training import trainer


def _tree():
  params = {'encoder': {'kernel': jnp.arange(24, dtype=jnp.float32).reshape(4, 6) / 7},
            'bf16': jnp.linspace(-1, 1, 8).astype(jnp.bfloat16)}
  return train_lib.create_state({'params': params, 'constants': {'flags': jnp.array([True, False]),
                                                                  'perm': jnp.arange(5)}},
                                ('encoder',), optax.adam(1e-3))


def test_fingerprints_see_every_changed_element_of_every_dtype():
  state = _tree()
  base = checkpoints.fingerprints(state)
  assert set(base) >= {'params/encoder/kernel', 'frozen/bf16', 'collections/constants/flags',
                       'opt_state/0/mu/encoder/kernel', 'step'}
  for name, leaf in [('params/encoder/kernel', state.params['encoder']['kernel']),
                     ('frozen/bf16', state.frozen['bf16']),
                     ('collections/constants/perm', state.collections['constants']['perm'])]:
    for index in range(leaf.size):  # one element changed in its lowest bit, or swapped
      flat = np.asarray(leaf).reshape(-1).copy()
      bits = flat.view(np.uint16 if flat.dtype.itemsize == 2 else np.uint32)
      bits[index] ^= 1
      changed = jnp.asarray(flat.reshape(leaf.shape))
      got = checkpoints.fingerprints({'x': changed})['x']['sum']
      assert got != checkpoints.fingerprints({'x': leaf})['x']['sum'], (name, index)
  swapped = jnp.asarray(np.asarray(state.collections['constants']['perm'])[::-1])
  assert (checkpoints.fingerprints({'x': swapped})['x']
          != checkpoints.fingerprints({'x': state.collections['constants']['perm']})['x'])
  flags = checkpoints.fingerprints({'x': jnp.array([False, True])})['x']
  assert flags != base['collections/constants/flags']


def test_fingerprints_do_not_depend_on_the_sharding():
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:4]), ('data',))
  x = jnp.arange(64, dtype=jnp.float32).reshape(8, 8) * 1.37
  across = jax.device_put(x, NamedSharding(mesh, PartitionSpec('data')))
  replicated = jax.device_put(x, NamedSharding(mesh, PartitionSpec()))
  prints = [checkpoints.fingerprints({'x': a})['x'] for a in (x, across, replicated, np.asarray(x))]
  assert all(p == prints[0] for p in prints)


def test_a_state_and_its_raw_restore_name_their_leaves_alike(tmp_path):
  state = _tree()
  manager = checkpoints.checkpoint_manager(str(tmp_path / 'checkpoints'), 2)
  checkpoints.save_checkpoint(manager, state)
  saved = json.loads((tmp_path / 'checkpoints' / 'fingerprints' / '0.json').read_text())
  assert set(saved) == {'arrays', 'files'} and saved['arrays'] == checkpoints.fingerprints(state)
  assert '_CHECKPOINT_METADATA' in saved['files']
  raw = checkpoints.read(manager, 0)  # verified on a raw restore: the same names and sums
  restored = checkpoints.read(manager, 0, state)
  assert checkpoints.fingerprints(restored) == checkpoints.fingerprints(state)
  assert set(checkpoints.fingerprints(raw)) == set(saved['arrays'])


def test_a_step_without_fingerprints_loads_with_one_warning(tmp_path, caplog):
  manager = checkpoints.checkpoint_manager(str(tmp_path / 'checkpoints'), 2)
  checkpoints.save_checkpoint(manager, _tree())
  os.remove(tmp_path / 'checkpoints' / 'fingerprints' / '0.json')
  with caplog.at_level('WARNING'):
    checkpoints.read(manager, 0)
  assert [r.getMessage() for r in caplog.records if 'no checksums' in r.getMessage()] == [
      f'checkpoint {tmp_path}/checkpoints/0 carries no checksums (saved before they existed): '
      'loaded unverified']
  assert checkpoints.verify_directory(str(tmp_path / 'checkpoints')) == [(0, 'no checksums', '')]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A tiny phase 1 with checkpoints at steps 3 and 6 (damaged below, file by file)."""
  workdir = tmp_path_factory.mktemp('trained') / 'run'
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(train_config('vae', steps=6, checkpoint_every_steps=3,
                                            num_devices=1), str(workdir))
  return workdir


def _flip_middle(data: bytes, count: int = 64) -> bytes:
  data = bytearray(data)
  middle = len(data) // 2
  for i in range(max(0, middle - count // 2), min(len(data), middle + count // 2)):
    data[i] ^= 0xFF
  return bytes(data)


def _every_file_damaged_is_caught(directory: str, write, read_back):
  """Flips 64 bytes in the middle of each file of step 6 in turn: every read of step 6 must
  raise DamagedCheckpoint, and the step read back whole again afterwards."""
  step_dir = files_lib.join(directory, '6')
  names = files_lib.list_files(step_dir)
  assert len(names) > 11
  manager = checkpoints.checkpoint_manager(directory, 3, read_only=True)
  clean = checkpoints.read(manager, 6)
  caught = []
  for name in names:
    path = files_lib.join(step_dir, name)
    original = read_back(path)
    write(path, _flip_middle(original))
    try:
      with pytest.raises(checkpoints.DamagedCheckpoint, match='checkpoint .*6 (is damaged|cannot be read)'):
        checkpoints.read(manager, 6)
      caught.append(name)
    finally:
      write(path, original)
  assert caught == names
  again = checkpoints.read(manager, 6)
  assert checkpoints.fingerprints(again) == checkpoints.fingerprints(clean)


def test_every_damaged_file_of_a_checkpoint_is_caught_on_local_disk(trained, tmp_path):
  copy = tmp_path / 'copy'
  shutil.copytree(trained, copy)
  _every_file_damaged_is_caught(str(copy / 'vae' / 'checkpoints'), files_lib.write_bytes_atomic,
                                files_lib.read_bytes)


@pytest.mark.slow
def test_every_damaged_file_of_a_checkpoint_is_caught_on_the_storage_emulator(trained, gcs):
  run = gcs.make_bucket('damaged') + '/run'
  files_lib.copy_tree(str(trained), run)
  _every_file_damaged_is_caught(files_lib.join(run, 'vae', 'checkpoints'),
                                files_lib.write_bytes_atomic, files_lib.read_bytes)


def test_the_rerun_steps_over_a_damaged_checkpoint_and_verify_reports_it(trained, tmp_path):
  copy = tmp_path / 'copy'
  shutil.copytree(trained, copy)
  data = copy / 'vae' / 'checkpoints' / '6' / 'default' / '_METADATA'
  data.write_bytes(_flip_middle(data.read_bytes()))
  report = checkpoints.verify_directory(str(copy / 'vae' / 'checkpoints'))
  assert [(step, status) for step, status, _ in report] == [(3, 'ok'), (6, 'damaged')]
  assert 'default/_METADATA differ from the checksums' in report[1][2]
  with tfds.testing.mock_data(num_examples=16):
    trainer.train_and_evaluate(train_config('vae', steps=9, checkpoint_every_steps=3,
                                            num_devices=1), str(copy))
  moved = copy / 'vae' / 'damaged_checkpoints' / '6'
  assert moved.is_dir() and (moved / 'fingerprints.json').is_file()
  assert workdir_lib.finished_steps(str(copy / 'vae' / 'checkpoints')) == [3, 6, 9]
  # The new step 6 was trained from step 3, and it verifies.
  assert [s for _, s, _ in checkpoints.verify_directory(str(copy / 'vae' / 'checkpoints'))] == [
      'ok'] * 3


def test_the_verify_command_reports_each_checkpoint(trained, tmp_path):
  import subprocess
  import sys
  copy = tmp_path / 'copy'
  shutil.copytree(trained, copy)
  data = copy / 'vae' / 'checkpoints' / '6' / 'default' / 'manifest.ocdbt'
  data.write_bytes(_flip_middle(data.read_bytes()))
  os.remove(copy / 'vae' / 'checkpoints' / 'fingerprints' / '3.json')  # as if saved before them
  result = subprocess.run([sys.executable, '-m', 'experiments.verify', f'--workdir={copy}'],
                          capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
  assert result.returncode == 1, result.stderr[-2000:]
  lines = result.stdout.strip().splitlines()
  assert lines[0] == f'{copy}/vae/checkpoints/3: no checksums'
  assert lines[1].startswith(f'{copy}/vae/checkpoints/6: damaged (checkpoint {copy}/vae/checkpoints/6 '
                             'is damaged: default/manifest.ocdbt differ from the checksums')
  assert lines[2].startswith('1 damaged checkpoint(s)')
  assert 'Traceback' not in result.stderr


def test_a_resume_from_nonfinite_parameters_is_named_not_good(trained, tmp_path):
  """A checkpoint can verify and still hold NaN parameters (saved from a diverged run): the
  non-finite guard must not call it the last good checkpoint."""
  copy = tmp_path / 'copy'
  shutil.copytree(trained, copy)
  directory = str(copy / 'vae' / 'checkpoints')
  manager = checkpoints.checkpoint_manager(directory, 3)
  state = checkpoints.restore_raw(manager, 6)
  state['params'] = jax.tree_util.tree_map(lambda a: np.full_like(a, np.nan), state['params'])
  shutil.rmtree(os.path.join(directory, '6'))
  os.remove(os.path.join(directory, 'fingerprints', '6.json'))
  manager = checkpoints.checkpoint_manager(directory, 3)
  checkpoints.save_checkpoint(manager, state, step=6)
  with tfds.testing.mock_data(num_examples=16):
    with pytest.raises(trainer.TrainingError, match=r'last good checkpoint: .*checkpoints/6, whose '
                       r'parameters were already non-finite when restored \(none is good\)'):
      trainer.train_and_evaluate(train_config('vae', steps=9, checkpoint_every_steps=3,
                                              num_devices=1, nonfinite='stop'), str(copy))
