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
from vaeglow_jax import reliability
from vaeglow_jax import workdir as workdir_lib
from vaeglow_jax.reliability import WorkdirError


def test_work_directory_files_round_trip_through_a_bucket(gcs, tmp_path):
  run = gcs.make_bucket('roundtrip') + '/run'
  workdir_lib.write_json_atomic(workdir_lib.join(run, 'vae', 'config.json'), {'seed': 3})
  workdir_lib.write_png(workdir_lib.join(run, 'vae', 'samples', 'step_1.png'),
                        np.arange(12, dtype=np.uint8).reshape(3, 4))
  assert workdir_lib.read_json(workdir_lib.join(run, 'vae', 'config.json')) == {'seed': 3}
  assert workdir_lib.read_json(workdir_lib.join(run, 'vae', 'missing.json'), 'default') == 'default'
  assert workdir_lib.list_dir(workdir_lib.join(run, 'vae')) == ['config.json', 'samples']
  assert workdir_lib.list_dir(workdir_lib.join(run, 'nothing')) == []
  assert gcs.list(run) == [f'{run}/vae/config.json', f'{run}/vae/samples/step_1.png']
  # A folder to a bucket and back, byte for byte.
  (tmp_path / 'a' / 'b').mkdir(parents=True)
  (tmp_path / 'a' / 'x.bin').write_bytes(os.urandom(1000))
  (tmp_path / 'a' / 'b' / 'y.bin').write_bytes(os.urandom(10))
  assert workdir_lib.copy_tree(tmp_path / 'a', f'{run}/copy') == ['b/y.bin', 'x.bin']
  back = workdir_lib.cached_copy(f'{run}/copy', str(tmp_path / 'cache'))
  assert os.path.basename(back) == 'copy'
  for name in ('x.bin', 'b/y.bin'):
    assert (tmp_path / 'a' / name).read_bytes() == open(os.path.join(back, name), 'rb').read()
  assert workdir_lib.cached_copy(f'{run}/copy', str(tmp_path / 'cache')) == back  # made once
  workdir_lib.remove_tree(workdir_lib.join(run, 'vae'))
  assert gcs.list(f'{run}/vae') == []


def test_a_bucket_that_does_not_exist_is_one_clear_error(gcs):
  with pytest.raises(WorkdirError, match=r'bucket gs://no-such-bucket does not exist'):
    reliability.check_writable('gs://no-such-bucket/run')
  reliability.check_writable(gcs.make_bucket('exists') + '/run')  # no error, nothing written
  assert gcs.list('gs://exists') == []


def _die(lock):
  """What a kill -9 leaves: the heartbeat stops and the lock object stays."""
  lock._stopped.set()
  lock._thread.join()


def test_the_bucket_lock_excludes_a_second_run_and_a_stale_one_is_taken_over(gcs):
  directory = gcs.make_bucket('locks') + '/run/vae'
  with reliability.phase_lock(directory, stale_seconds=60):
    with pytest.raises(WorkdirError, match=rf'another training process \(pid {os.getpid()} on .*\) '
                                           rf'holds {directory}/.lock'):
      with reliability.phase_lock(directory, stale_seconds=60):
        pass
  with reliability.phase_lock(directory, stale_seconds=60):  # released: taken again
    pass
  assert gcs.list(directory) == []

  killed = reliability.phase_lock(directory, stale_seconds=2).__enter__()
  _die(killed)
  with pytest.raises(WorkdirError, match='another training process'):  # not yet stale
    reliability.phase_lock(directory, stale_seconds=2).__enter__()
  time.sleep(2.5)
  with reliability.phase_lock(directory, stale_seconds=2) as taker:
    # The killed holder, were it only paused, learns at its next heartbeat that it lost the lock.
    killed._stopped.clear()
    heartbeat = threading.Thread(target=killed._heartbeat, args=(killed._bucket(),))
    heartbeat.start()
    heartbeat.join(timeout=10)
    assert killed.lost and not taker.lost
  assert gcs.list(directory) == []


def test_a_live_holders_heartbeat_keeps_its_lock(gcs):
  directory = gcs.make_bucket('heartbeat') + '/run/vae'
  with reliability.phase_lock(directory, stale_seconds=2) as held:
    time.sleep(3)  # longer than stale_seconds: only the heartbeat keeps it fresh
    with pytest.raises(WorkdirError, match='another training process'):
      reliability.phase_lock(directory, stale_seconds=2).__enter__()
    assert not held.lost


@pytest.mark.skipif(not os.path.isdir(data_lib.FASHION_MNIST_DEBIAN_DIR),
                    reason='needs apt-get install dataset-fashion-mnist')
def test_a_dataset_is_read_from_a_bucket_as_from_a_local_data_dir(gcs, tmp_path):
  import tensorflow_datasets as tfds
  local = tmp_path / 'tfds'
  # A real prepared Fashion-MNIST, 64 images a split (the offline files, as data.py prepares them).
  tfds.builder('fashion_mnist', data_dir=str(local)).download_and_prepare(
      download_config=tfds.download.DownloadConfig(
          manual_dir=data_lib.FASHION_MNIST_DEBIAN_DIR, register_checksums=True,
          max_examples_per_split=64))
  bucket_dir = gcs.make_bucket('data') + '/tfds'
  workdir_lib.copy_tree(local, bucket_dir)
  config = tiny.get_config().data
  config.data_dir, config.cache_dir = str(local), ''
  want = data_lib.labeled_arrays(config, 'test')
  config.data_dir, config.cache_dir = bucket_dir, str(tmp_path / 'cache')
  got = data_lib.labeled_arrays(config, 'test')
  assert len(want[0]) == 64
  np.testing.assert_array_equal(got[0], want[0])
  np.testing.assert_array_equal(got[1], want[1])
  assert data_lib.local_data_dir(config).startswith(str(tmp_path / 'cache'))
  config.data_dir = 'gs://data/elsewhere'
  with pytest.raises(data_lib.DataError, match="no prepared 'fashion_mnist' in gs://data/elsewhere"):
    data_lib.labeled_arrays(config, 'test')


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
  with pytest.raises(reliability.WorkdirError) as e:
    reliability.check_writable('gs://nowhere/run')
  assert time.monotonic() - started < 10
  assert str(e.value).startswith(f'cannot reach the storage endpoint http://127.0.0.1:{port} of '
                                 'bucket gs://nowhere (')
