"""Test set-up: simulated CPU devices and the compilation cache must be configured before JAX
starts."""

import atexit
import os
import shutil
import tempfile

from tests.xla_env import xla_flags

# Four simulated CPU devices so data-parallel code is tested without accelerators.
os.environ.setdefault('XLA_FLAGS', xla_flags(4))
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# Lowering attaches each op's Python traceback (up to 100 frames) to its MLIR location; with
# only the innermost frame, lowering the tiny test programs is cheaper (test_glow.py and
# test_phases.py: 120 s -> 98 s). The tests check values, never those locations.
os.environ.setdefault('JAX_INCLUDE_FULL_TRACEBACKS_IN_LOCATIONS', '0')

# Compilation dominates the suite, and many tests (and the training subprocesses they start)
# compile the same tiny programs again: one JAX compilation cache per test run, shared by the
# xdist workers and subprocesses through the environment, cuts the suite's time by about a
# third. It starts empty, so a run never reuses another run's executables, and is removed at
# the end. A cache the user set is left alone.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _cache_dir = tempfile.mkdtemp(prefix='vaeglow_jax_test_cache_')
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _cache_dir
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '-1')
  atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)


import pytest  # noqa: E402

from vaeglow_jax.runtime import environment  # noqa: E402

# What entry points do first (cli.run): the tests call the library in this process too.
environment.configure()


# The runs made once per session (helpers.once_per_session) that several tests take as fixture
# arguments. (test_multihost's two_process_run is asked for mid-test, after each test's own work,
# so it is not among a test's fixturenames.)
SHARED_RUNS = ('tiny_run', 'straight_run')


def pytest_collection_modifyitems(config, items):
  """The slow tests first: xdist hands tests out in this order, so the many short ones fill the
  workers' gaps at the end instead of a long one running alone while the other worker idles.
  Among them, one user of each shared run first, the other users last: a test that asks for a
  run the other worker is still making waits for it with its core idle (tiny_run: 20-40 s)."""
  del config
  first_users = {}
  for item in items:
    for name in SHARED_RUNS:
      if name in item.fixturenames:
        first_users.setdefault(name, item)

  def order(item):
    shared = [name for name in SHARED_RUNS if name in item.fixturenames]
    if any(first_users[name] is item for name in shared):
      return item.get_closest_marker('slow') is None, 0
    return item.get_closest_marker('slow') is None, 2 if shared else 1

  items.sort(key=order)


@pytest.fixture(scope='session')
def gcs(tmp_path_factory):
  """A local Cloud Storage emulator for this test process (tests.gcs_emulator), with this process's
  clients pointed at it; subprocesses get `gcs.env`. -> the Emulator."""
  from tests.gcs_emulator import Emulator
  emulator = Emulator(str(tmp_path_factory.mktemp('gcs')))
  emulator.start()
  saved = dict(os.environ)
  os.environ.update(emulator.env)
  environment.configure()
  yield emulator
  emulator.stop()
  os.environ.clear()
  os.environ.update(saved)
  environment.configure()


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
  """A tiny vae -> glow work directory and a tiny feature extractor (tests/configs/tiny.py, 8x8
  Fashion-MNIST, 1 device), trained once per session and shared (read-only: copy it before
  writing into it). -> (workdir, feature extractor dir)."""
  from tests.configs import tiny
  from tests.helpers import once_per_session
  from vaeglow_jax.training import feature_extractor, trainer

  def config(phase):
    c = tiny.get_config()
    c.phase, c.num_devices = phase, 1
    return c

  def make(directory):
    for phase in ('vae', 'glow'):
      trainer.train_and_evaluate(config(phase), str(directory / 'run'))
    feature_extractor.train(config('vae'), str(directory / 'features'), log=lambda *_: None)

  directory = once_per_session(tmp_path_factory, 'tiny_run', make)
  return str(directory / 'run'), str(directory / 'features')
