"""The process-wide settings, made by explicit calls: `configure()`,
`configure_compilation_cache()` and `use_cpu_cores()`.

Importing the library changes nothing outside it (no environment variable, no `sys.modules`
entry; `tests/test_imports.py` checks). Entry points call `configure()` first thing in `main()`,
as flax's imagenet example does its set-up; a program that uses the library on gs:// paths calls
it before its first path.
"""

from __future__ import annotations

import os

from vaeglow_jax.io import storage


def configure(environ: dict = os.environ, quiet_tensorflow: bool = True) -> storage.Settings:
  """Point the object-store clients at the endpoint and project of `storage.settings()`, and,
  with `quiet_tensorflow`, set TF_CPP_MIN_LOG_LEVEL=2 (TensorFlow's C++ warnings off; importing
  jax sets it to 1 when unset, so a default would not take). Before TensorFlow is imported.
  Idempotent. -> the storage settings."""
  if quiet_tensorflow:
    environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
  settings = storage.settings(environ)
  storage.configure_clients(settings, environ)
  return settings


# VAEGLOW_COMPILATION_CACHE: a folder for JAX's persistent compilation cache, or one of these to
# turn it off.
_OFF = ('', '0', 'off', 'false', 'no')


def compilation_cache_dir(environ: dict = os.environ) -> str | None:
  """Where the commands keep JAX's persistent compilation cache: $VAEGLOW_COMPILATION_CACHE (a
  folder; '0', 'off' or '' turn it off), else $XDG_CACHE_HOME/vaeglow-jax/xla (default
  ~/.cache/vaeglow-jax/xla). None: off, or JAX_COMPILATION_CACHE_DIR is set and JAX uses that."""
  value = environ.get('VAEGLOW_COMPILATION_CACHE')
  if value is not None:
    return None if value.strip().lower() in _OFF else os.path.expanduser(value)
  if environ.get('JAX_COMPILATION_CACHE_DIR'):
    return None
  base = environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(base, 'vaeglow-jax', 'xla')


def configure_compilation_cache(environ: dict = os.environ) -> str | None:
  """Turns on JAX's persistent compilation cache in compilation_cache_dir(environ), keeping every
  program that took 0.2 s or more to compile (JAX's default is 1 s, which leaves most of these
  models' programs out), unless JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS says otherwise. A
  later run of the same program on the same machine and JAX version then loads it instead of
  compiling (BENCHMARKS.md, "Time to a first result"). The commands call this; a program using
  the library may too (vaeglow_jax.enable_compilation_cache). -> the folder, or None (off)."""
  folder = compilation_cache_dir(environ)
  if folder is None:
    return None
  import jax
  jax.config.update('jax_compilation_cache_dir', folder)
  if 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS' not in environ:
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)
  return folder


def cpu_device_count(requested: int, cores: int, batch_size: int) -> int:
  """CPU devices for a run: `requested` when > 0, else the largest count up to `cores` that
  divides `batch_size` (so the batch still splits evenly)."""
  if requested > 0:
    return requested
  return max(d for d in range(1, max(cores, 1) + 1) if batch_size % d == 0)


def use_cpu_cores(config, environ=os.environ) -> int | None:
  """Splits the host into `config.cpu_devices` CPU devices (0: one per core) before JAX starts
  its backends; returns the count set, or None where it leaves JAX's default.

  XLA:CPU runs the small convolutions of the quick models on about one core at a time;
  one device per core, with the batch sharded over them, keeps every core busy
  (BENCHMARKS.md, "Our own phases on CPU: the demo's two steps"). Only for a single process, and only where
  the user has not chosen (XLA_FLAGS' xla_force_host_platform_device_count, or
  $JAX_NUM_CPU_DEVICES); it has no effect on GPU and TPU devices. Call it from an entry point,
  before any JAX computation.
  """
  import jax  # pylint: disable=import-outside-toplevel  # importing this module starts no JAX
  from vaeglow_jax.runtime import distributed  # pylint: disable=import-outside-toplevel
  requested = int(config.cpu_devices)
  if requested < 0:
    raise distributed.DistributedError(f'cpu_devices must be >= 0 (0: one per core), got {requested}.')
  if (distributed.wanted(config) and requested == 0) or 'xla_force_host_platform_device_count' in environ.get(
      'XLA_FLAGS', '') or jax.config.jax_num_cpu_devices != -1:
    return None
  count = cpu_device_count(requested, len(os.sched_getaffinity(0)), config.batch_size)
  jax.config.update('jax_num_cpu_devices', count)
  return count
