"""gs:// work directories and data, against a local Cloud Storage emulator (tests.gcs_emulator):
the work-directory module's I/O, the object-storage lock, and reading a dataset from a bucket.
The end-to-end runs on a bucket are in test_object_storage_runs.py."""

import os
import threading
import time

import numpy as np
import pytest

from tests.configs import tiny
from vaeglow_jax import data as data_lib
from vaeglow_jax.io import files as files_lib
from vaeglow_jax.runtime import lock as lock_lib
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.errors import WorkdirError


def test_work_directory_files_round_trip_through_a_bucket(gcs, tmp_path):
  run = gcs.make_bucket('roundtrip') + '/run'
  files_lib.write_json_atomic(files_lib.join(run, 'vae', 'config.json'), {'seed': 3})
  files_lib.write_png(files_lib.join(run, 'vae', 'samples', 'step_1.png'),
                        np.arange(12, dtype=np.uint8).reshape(3, 4))
  assert files_lib.read_json(files_lib.join(run, 'vae', 'config.json')) == {'seed': 3}
  assert files_lib.read_json(files_lib.join(run, 'vae', 'missing.json'), 'default') == 'default'
  assert files_lib.list_dir(files_lib.join(run, 'vae')) == ['config.json', 'samples']
  assert files_lib.list_dir(files_lib.join(run, 'nothing')) == []
  assert gcs.list(run) == [f'{run}/vae/config.json', f'{run}/vae/samples/step_1.png']
  # A folder to a bucket and back, byte for byte.
  (tmp_path / 'a' / 'b').mkdir(parents=True)
  (tmp_path / 'a' / 'x.bin').write_bytes(os.urandom(1000))
  (tmp_path / 'a' / 'b' / 'y.bin').write_bytes(os.urandom(10))
  assert files_lib.copy_tree(tmp_path / 'a', f'{run}/copy') == ['b/y.bin', 'x.bin']
  back = files_lib.cached_copy(f'{run}/copy', str(tmp_path / 'cache'))
  assert os.path.basename(back) == 'copy'
  for name in ('x.bin', 'b/y.bin'):
    assert (tmp_path / 'a' / name).read_bytes() == open(os.path.join(back, name), 'rb').read()
  assert files_lib.cached_copy(f'{run}/copy', str(tmp_path / 'cache')) == back  # made once
  files_lib.remove_tree(files_lib.join(run, 'vae'))
  assert gcs.list(f'{run}/vae') == []


def test_a_bucket_that_does_not_exist_is_one_clear_error(gcs):
  with pytest.raises(WorkdirError, match=r'bucket gs://no-such-bucket does not exist'):
    files_lib.check_writable('gs://no-such-bucket/run')
  files_lib.check_writable(gcs.make_bucket('exists') + '/run')  # no error, nothing written
  assert gcs.list('gs://exists') == []


def _die(lock):
  """What a kill -9 leaves: the heartbeat stops and the lock object stays."""
  lock._stopped.set()
  lock._thread.join()


def test_the_bucket_lock_excludes_a_second_run_and_a_stale_one_is_taken_over(gcs):
  directory = gcs.make_bucket('locks') + '/run/vae'
  with lock_lib.phase_lock(directory, stale_seconds=60):
    with pytest.raises(WorkdirError, match=rf'another training process \(pid {os.getpid()} on .*\) '
                                           rf'holds {directory}/.lock'):
      with lock_lib.phase_lock(directory, stale_seconds=60):
        pass
  with lock_lib.phase_lock(directory, stale_seconds=60):  # released: taken again
    pass
  assert gcs.list(directory) == []

  killed = lock_lib.phase_lock(directory, stale_seconds=2).__enter__()
  _die(killed)
  with pytest.raises(WorkdirError, match='another training process'):  # not yet stale
    lock_lib.phase_lock(directory, stale_seconds=2).__enter__()
  time.sleep(2.5)
  with lock_lib.phase_lock(directory, stale_seconds=2) as taker:
    # The killed holder, were it only paused, learns at its next heartbeat that it lost the lock.
    killed._stopped.clear()
    heartbeat = threading.Thread(target=killed._heartbeat, args=(killed._bucket(),))
    heartbeat.start()
    heartbeat.join(timeout=10)
    assert killed.lost and not taker.lost
  assert gcs.list(directory) == []


def test_a_live_holders_heartbeat_keeps_its_lock(gcs):
  directory = gcs.make_bucket('heartbeat') + '/run/vae'
  with lock_lib.phase_lock(directory, stale_seconds=2) as held:
    time.sleep(3)  # longer than stale_seconds: only the heartbeat keeps it fresh
    with pytest.raises(WorkdirError, match='another training process'):
      lock_lib.phase_lock(directory, stale_seconds=2).__enter__()
    assert not held.lost


@pytest.mark.skipif(not os.path.isdir(data_lib.FASHION_MNIST_DEBIAN_DIR),
                    reason='needs apt-get install dataset-fashion-mnist')
def _prepare(data_dir, examples_per_split, num_shards=None):
  """A real prepared Fashion-MNIST, `examples_per_split` images a split (the offline files, as
  data.py prepares them)."""
  import tensorflow_datasets as tfds
  tfds.builder('fashion_mnist', data_dir=str(data_dir)).download_and_prepare(
      download_config=tfds.download.DownloadConfig(
          manual_dir=data_lib.FASHION_MNIST_DEBIAN_DIR, register_checksums=True,
          max_examples_per_split=examples_per_split, num_shards=num_shards))


def test_a_dataset_is_read_from_a_bucket_as_from_a_local_data_dir(gcs, tmp_path):
  local = tmp_path / 'tfds'
  _prepare(local, 64)
  bucket_dir = gcs.make_bucket('data') + '/tfds'
  files_lib.copy_tree(local, bucket_dir)
  config = tiny.get_config().data
  config.data_dir, config.cache_dir = str(local), ''
  want = data_lib.labeled_arrays(config, 'test')
  config.data_dir, config.cache_dir = bucket_dir, str(tmp_path / 'cache')
  got = data_lib.labeled_arrays(config, 'test')
  assert len(want[0]) == 64
  np.testing.assert_array_equal(got[0], want[0])
  np.testing.assert_array_equal(got[1], want[1])
  assert data_lib.local_data_dir(config).startswith(str(tmp_path / 'cache'))
  # Prepared anew in the bucket (here with 32 images a split): the next run copies it anew.
  again = tmp_path / 'again'
  _prepare(again, 32)
  files_lib.remove_tree(bucket_dir)
  files_lib.copy_tree(again, bucket_dir)
  assert len(data_lib.labeled_arrays(config, 'test')[0]) == 32
  config.data_dir = 'gs://data/elsewhere'
  with pytest.raises(data_lib.DataError, match="no prepared 'fashion_mnist' in gs://data/elsewhere"):
    data_lib.labeled_arrays(config, 'test')


def test_per_process_files_copy_and_read_only_each_processs_share_of_the_training_split(
    gcs, tmp_path, monkeypatch):
  import jax
  local = tmp_path / 'tfds'
  _prepare(local, 64, num_shards=4)
  bucket_dir = gcs.make_bucket('shares') + '/tfds'
  files_lib.copy_tree(local, bucket_dir)
  config = tiny.get_config().data
  config.data_dir, config.train_split, config.per_process_files = bucket_dir, 'train', True
  everything = data_lib.labeled_arrays(_local(config, local), 'train')[0]
  monkeypatch.setattr(jax, 'process_count', lambda: 2)
  seen = []
  for process in (0, 1):
    monkeypatch.setattr(jax, 'process_index', lambda process=process: process)
    config.cache_dir = str(tmp_path / f'host{process}')
    copied = sorted(os.listdir(os.path.join(data_lib.local_data_dir(config), 'fashion_mnist',
                                            '3.0.1')))
    train_files = [name for name in copied if '-train.' in name]
    assert len(train_files) == 2 and any('-test.' in name for name in copied), copied
    stream = data_lib.train_iterator(config, global_batch=8, seed=0)
    seen.append(np.concatenate([next(stream) for _ in range(8)]))  # 32 images: one pass
  assert all(len(np.unique(s.reshape(32, -1), axis=0)) == 32 for s in seen)
  # Disjoint shares that together are the split.
  both = np.concatenate(seen).reshape(64, -1)
  np.testing.assert_array_equal(np.unique(both, axis=0), np.unique(everything.reshape(64, -1), axis=0))


def _local(config, local):
  config = config.copy_and_resolve_references()
  config.data_dir, config.per_process_files = str(local), False
  return config


def test_training_into_a_missing_bucket_is_one_line_and_exit_2(gcs):
  import subprocess
  import sys
  from tests.helpers import ROOT
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.train', '--config=tests/configs/tiny.py',
       '--workdir=gs://no-such-bucket/run'], cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, **gcs.env})
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.strip().splitlines()[-1] == (
      'error: bucket gs://no-such-bucket does not exist or is not visible with these credentials; '
      'create it (gcloud storage buckets create gs://no-such-bucket) or fix --workdir.')
  assert 'Traceback' not in result.stderr


def test_an_unreachable_endpoint_is_one_line_within_seconds(monkeypatch, tmp_path):
  """No emulator at that address (or no network): one line naming the bucket and the endpoint,
  in seconds (the clients' own retries took 83 s and ended in an aiohttp stack)."""
  import socket
  import time
  with socket.socket() as probe:  # a port nothing listens on
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
  monkeypatch.setenv('STORAGE_EMULATOR_HOST', f'http://127.0.0.1:{port}')
  started = time.monotonic()
  with pytest.raises(WorkdirError) as e:
    files_lib.check_writable('gs://nowhere/run')
  assert time.monotonic() - started < 10
  assert str(e.value).startswith(f'cannot reach the storage endpoint http://127.0.0.1:{port} of '
                                 'bucket gs://nowhere (')


_KILLED_WRITER = '''
import os, signal, sys
from vaeglow_jax.runtime import environment
from vaeglow_jax.io import metric_writer as writer_lib
environment.configure()
writer = writer_lib.create_writer(sys.argv[1], just_logging=False)
writer.write_scalars(1, {"loss": 1.0})
writer.flush()  # a checkpoint: step 1 is uploaded
writer.write_scalars(2, {"loss": 2.0})
writer._writer.flush()  # TensorFlow's own periodic flush to the local file, not an upload
os.kill(os.getpid(), signal.SIGKILL)
'''


def test_events_on_a_bucket_upload_only_what_is_new_and_a_killed_runs_events_are_recovered(
    gcs, tmp_path, monkeypatch):
  import subprocess
  import sys
  import tempfile
  from tests.helpers import ROOT
  from vaeglow_jax.evaluation import figures
  from vaeglow_jax.io import metric_writer as writer_lib
  temp = tmp_path / 'tmp'
  temp.mkdir()
  monkeypatch.setattr(tempfile, 'tempdir', str(temp))
  uploads = []
  write = files_lib.write_bytes_atomic
  monkeypatch.setattr(files_lib, 'write_bytes_atomic',
                      lambda path, data: (uploads.append(os.path.basename(path)) if str(path).startswith(remote) else None,
                                          write(path, data)))
  remote = gcs.make_bucket('events') + '/run/vae'

  writer = writer_lib.create_writer(remote, just_logging=False)
  for step in range(1, 7):
    writer.write_scalars(step, {'loss': float(step)})
    if step % 2 == 0:
      writer.flush()
      # Each flush uploads one new file, once; the bucket has the events to this step.
      assert len(uploads) == step // 2 and len(set(uploads)) == len(uploads)
      assert [s for s, _ in figures.read_scalars(remote)['loss']] == list(range(1, step + 1))
  writer.close()
  assert len(uploads) == len(set(uploads)) == 4  # close: the last file (no new events)
  assert list(temp.iterdir()) == []

  # kill -9 after one flush: the bucket has step 1 (at most one flush interval is missing); the
  # killed process's folder stays until the next writer for that phase uploads it (step 2) and
  # deletes it.
  killed = gcs.make_bucket('killed') + '/run/vae'
  proc = subprocess.run([sys.executable, '-c', _KILLED_WRITER, killed], cwd=ROOT, timeout=120,
                        env={**os.environ, 'TMPDIR': str(temp)}, capture_output=True, text=True)
  assert proc.returncode == -9, proc.stderr[-3000:]
  assert [s for s, _ in figures.read_scalars(killed)['loss']] == [1]
  assert len(list(temp.iterdir())) == 1
  writer_lib.create_writer(killed, just_logging=False).close()
  assert [s for s, _ in figures.read_scalars(killed)['loss']] == [1, 2]
  assert list(temp.iterdir()) == []


def test_a_recipe_forks_a_run_on_a_bucket_and_copies_its_results_out(gcs, tmp_path):
  """experiments.stages' fork and copy stages read and write work directories through the
  work-directory module, so a recipe's runs may live in a bucket."""
  from experiments import stages
  bucket = gcs.make_bucket('recipes')
  source, fork_dir = f'{bucket}/budget/run', f'{bucket}/budget16/run'
  files_lib.write_bytes_atomic(f'{source}/glow/checkpoints/2000/state', b'weights')
  files_lib.write_json_atomic(f'{source}/glow/config.json', {'num_train_steps': 2000})
  files_lib.write_json_atomic(f'{source}/eval/metrics.json', {'vae': {'bpd': 5.0},
                                                                'glow': {'bpd': 4.9}})
  files_lib.write_bytes_atomic(f'{source}/eval/glow/samples_T0.png', b'png')
  fork = stages.Fork(workdir=fork_dir, fork_from=source, fork_drop=('glow',))
  assert stages.run([fork], runner=None, log=lambda *a: None) == 0 and fork.is_done()
  assert files_lib.read_bytes(f'{fork_dir}/glow/checkpoints/2000/state') == b'weights'
  assert workdir_lib.read_metrics(fork_dir) == {'vae': {'bpd': 5.0}}
  assert not files_lib.exists(f'{fork_dir}/eval/glow')
  assert workdir_lib.read_metrics(source) == {'vae': {'bpd': 5.0}, 'glow': {'bpd': 4.9}}
  copy = stages.Copy(workdir=source, copy_to=str(tmp_path / 'out'), copy_phases=('glow',),
                      copy_figures=('glow/*.png',), copy_layout='flat')
  assert sorted(os.path.basename(p) for p in copy.copy()) == [
      'config.json', 'metrics.json', 'samples_T0.png']
  assert (tmp_path / 'out' / 'samples_T0.png').read_bytes() == b'png'
