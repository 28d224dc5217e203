"""Helpers shared by the tests."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np

from tests.configs import tiny
from tests.xla_env import xla_flags
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import workdir as workdir_lib
from vaeglow_jax.flows.checks import flow_errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check_flow(module, variables, x, logdet_examples=1):
  """(max inversion error, max relative logdet error, max |fwd + rev logdet|)."""
  errors = flow_errors(module, variables, x, logdet_examples)
  return errors['inverse_max_abs'], errors['logdet_max_rel'], errors['reverse_logdet_max_abs']


def tiny_model(image_shape=(8, 8, 1), variance='diagonal', prior='flow', glow=True, latent_dim=4):
  """A VAEGlow small enough for unit tests (8x8 images, width 8-16)."""
  from vaeglow_jax.flows import StepOptions
  from vaeglow_jax.models.glow import GlowLayer
  from vaeglow_jax.models.model import VAEGlow
  from vaeglow_jax.models.prior import FlowPrior, StandardPrior
  from vaeglow_jax.models.vae import Decoder, Encoder
  return VAEGlow(
      encoder=Encoder(latent_dim=latent_dim, num_scales=2, base_channels=8, fc_dim=16),
      decoder=Decoder(image_shape, num_scales=2, base_channels=8, variance=variance),
      prior=FlowPrior(num_layers=2, hidden=16) if prior == 'flow' else StandardPrior(),
      glow=GlowLayer(depth=2, step=StepOptions(hidden=8),
                     num_squeezes=1 if image_shape[-1] == 1 else 0) if glow else None)


def randomize(variables, seed=1, scale=0.1):
  """Perturbs every parameter so zero-initialised layers are not trivial."""
  leaves, tree = jax.tree_util.tree_flatten(variables['params'])
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  leaves = [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
  return {**variables, 'params': jax.tree_util.tree_unflatten(tree, leaves)}


def train_config(phase="vae", steps=6, **overrides):
  """The tests' tiny config (tests/configs/tiny.py) for runs under tfds.testing.mock_data; `overrides` use dotted keys."""
  config = tiny.get_config()
  config.phase = phase
  config.num_train_steps = steps
  config.data.allow_download = True  # under mock_data, "download" is a no-op
  config.data.data_dir = '/tmp/vaeglow_mock_tfds_unused'
  config.data.train_split = 'train'
  config.data.validation_split = 'train'
  config.warmup_steps = 0
  config.learning_rate = 3e-3
  config.update_from_flattened_dict(overrides)
  return config


def cli_config(args):
  """The config that `experiments.train ARGS` trains: ml_collections parses the --config=FILE
  and --config.KEY=VALUE arguments of ARGS as that command line does (others are ignored). A
  test's reference run in its own process then has the settings of the launches it is
  compared with, without a launch of its own."""
  from absl import flags
  from ml_collections import config_flags
  argv = ['cli_config', *[a for a in args if a.startswith('--config')]]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, 'config file', flag_values=values,
                                  lock_config=True, sys_argv=argv)
  values(argv)
  return values.config


def latest_state(workdir, phase):
  """(latest step, raw restored state) of DIR/<phase>/checkpoints."""
  manager = checkpoints.checkpoint_manager(workdir_lib.checkpoints_dir(workdir, phase), 3)
  return manager.latest_step(), checkpoints.restore_raw(manager)


def assert_trees_equal(a, b):
  """Same structure and bitwise-equal leaves."""
  flat_a, tree_a = jax.tree_util.tree_flatten(a)
  flat_b, tree_b = jax.tree_util.tree_flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def snapshot(path):
  """Every file under path with its size and mtime: 'nothing changed' means equal snapshots."""
  out = {}
  for root, _, files in os.walk(path):
    for name in files:
      full = os.path.join(root, name)
      st = os.stat(full)
      out[full] = (st.st_size, st.st_mtime_ns)
  return out


def once_per_session(tmp_path_factory, name: str, make):
  """`make(directory)` run once per test session, by whichever xdist worker asks first; the
  others wait for it, then share `directory` (runs that several tests compare against). A
  `make` that fails leaves nothing marked done, so the next test to ask runs it again and
  fails on its own. -> directory."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    root = root.parent  # the workers' base directories share this parent
  directory, done = root / name, root / f'{name}.done'
  with open(root / f'{name}.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
    if not done.exists():
      make(directory)
      done.touch()
  return directory


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def launch(module_args, log_path, devices: int, env_extra=None):
  """`python -m MODULE ARGS` in the repository root with `devices` simulated CPU devices, its
  output to a file (a full pipe would block it, and with it the other processes at the next
  collective). It runs through tests.launched, so that every process, not only process 0,
  writes its compilation-cache entries. -> (Popen, log path)."""
  env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'JAX_PLATFORMS': 'cpu',
         'XLA_FLAGS': xla_flags(devices), **(env_extra or {})}
  with open(log_path, 'w') as f:
    proc = subprocess.Popen([sys.executable, '-m', 'tests.launched', *module_args], cwd=ROOT,
                            env=env, stdout=f, stderr=subprocess.STDOUT)
  return proc, log_path


def finish(procs, timeout=900, returncode=0):
  """Waits for every (Popen, log path); -> their outputs. Each must exit with `returncode`."""
  outs = []
  for proc, log in procs:
    proc.wait(timeout=timeout)
    with open(log) as f:
      outs.append(f.read())
  for (proc, _), out in zip(procs, outs):
    assert proc.returncode == returncode, out[-4000:]
  return outs


def process_flags(port: int, process_id: int, num_processes: int = 2) -> list[str]:
  """The config overrides that make a run process `process_id` of a local multi-process run."""
  return [f'--config.distributed.coordinator_address=127.0.0.1:{port}',
          f'--config.distributed.num_processes={num_processes}',
          f'--config.distributed.process_id={process_id}']


def workdir_files(workdir) -> list[str]:
  """Relative paths of the work-directory files outside checkpoints/ (event files by kind:
  their names hold the time and host)."""
  return sorted(os.path.join(os.path.relpath(root, workdir),
                             'events' if name.startswith('events.out.tfevents') else name)
                for root, _, names in os.walk(workdir) for name in names
                if 'checkpoints' not in root)


def poisoned_per_example(original):
  """A VAEPhase.per_example whose reconstruction term (and so the loss) is NaN: the
  non-finite trigger of the guard tests."""
  def poisoned(self, variables, x, rng):
    terms = dict(original(self, variables, x, rng))
    terms['recon'] = terms['recon'] * np.nan
    terms['objective'] = terms['objective'] + terms['recon']
    return terms
  return poisoned


def import_torchvision():
  """torchvision, also where its C++ ops cannot load.

  PyPI's torchvision 0.28.0 is built against CUDA torch; with the CPU torch wheel its ops
  library does not load, and its import then fails registering fake kernels for two ops
  that were never defined (torchvision/_meta_registrations.py). Defining their schemas
  lets the import finish; the Inception network uses none of torchvision's custom ops.
  """
  import torch
  try:
    import torchvision
  except RuntimeError as e:
    if 'torchvision::' not in str(e):
      raise
    for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
      del sys.modules[name]
    library = torch.library.Library('torchvision', 'DEF')
    for op in ('nms', 'qnms'):
      library.define(f'{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    import_torchvision.library = library  # the definitions live as long as this object
    import torchvision
  return torchvision


def wait_for_line(proc, text: str, timeout: float = 300) -> list[str]:
  """Reads the piped text output of Popen `proc` until a line containing `text`. -> the lines
  read. Fails the test, with the last lines, if the output ends or `timeout` s pass first."""
  deadline, lines = time.time() + timeout, []
  while time.time() < deadline:
    line = proc.stdout.readline()
    if not line:
      break
    lines.append(line)
    if text in line:
      return lines
  raise AssertionError(f'{text!r} not seen; output:\n' + ''.join(lines[-30:]))


@contextlib.contextmanager
def read_only(folder):
  """`folder` unwritable while inside: immutable (chattr +i) as root, whom permission bits do not
  stop, else mode 0o555; restored after."""
  import subprocess
  if os.geteuid() == 0:
    subprocess.run(['chattr', '+i', str(folder)], check=True)
    try:
      yield
    finally:
      subprocess.run(['chattr', '-i', str(folder)], check=True)
  else:
    os.chmod(folder, 0o555)
    try:
      yield
    finally:
      os.chmod(folder, 0o755)
