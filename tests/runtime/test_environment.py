"""environment.configure_compilation_cache: where the commands keep JAX's compilation cache, how
to move or turn it off, and that a second run of a command loads its programs from it."""

import os
import subprocess
import sys

import jax
import pytest

from tests.helpers import ROOT
from vaeglow_jax.runtime import environment


@pytest.mark.parametrize('environ, expected', [
    ({'HOME': '/home/u'}, '/home/u/.cache/vaeglow-jax/xla'),
    ({'HOME': '/home/u', 'XDG_CACHE_HOME': '/c'}, '/c/vaeglow-jax/xla'),
    ({'VAEGLOW_COMPILATION_CACHE': '/fast/xla', 'JAX_COMPILATION_CACHE_DIR': '/j'}, '/fast/xla'),
    ({'JAX_COMPILATION_CACHE_DIR': '/j'}, None),  # JAX's own setting: JAX uses it
    ({'VAEGLOW_COMPILATION_CACHE': 'off'}, None),
    ({'VAEGLOW_COMPILATION_CACHE': '0'}, None),
])
def test_the_cache_folder_follows_the_environment(environ, expected, monkeypatch):
  monkeypatch.setattr(os.path, 'expanduser', lambda p: p.replace('~', environ.get('HOME', '~')))
  assert environment.compilation_cache_dir(environ) == expected


def test_configure_sets_jax_and_leaves_a_users_threshold(tmp_path):
  before = (jax.config.jax_compilation_cache_dir,
            jax.config.jax_persistent_cache_min_compile_time_secs)
  try:
    folder = str(tmp_path / 'xla')
    assert environment.configure_compilation_cache({'VAEGLOW_COMPILATION_CACHE': folder}) == folder
    assert jax.config.jax_compilation_cache_dir == folder
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.2
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 3.0)
    environment.configure_compilation_cache({'VAEGLOW_COMPILATION_CACHE': folder,
                                             'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '3'})
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 3.0
    assert environment.configure_compilation_cache({'VAEGLOW_COMPILATION_CACHE': 'off'}) is None
  finally:
    jax.config.update('jax_compilation_cache_dir', before[0])
    jax.config.update('jax_persistent_cache_min_compile_time_secs', before[1])


@pytest.mark.slow
def test_a_second_command_run_loads_its_programs_from_the_cache(tmp_path):
  """vaeglow-train twice on the tiny config into two work directories with one cache folder: the
  first fills it, the second compiles nothing it already holds (JAX logs each cache hit)."""
  cache = tmp_path / 'xla'
  env = {k: v for k, v in os.environ.items() if not k.startswith('JAX_COMPILATION_CACHE')
         and k != 'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'}
  env.update(VAEGLOW_COMPILATION_CACHE=str(cache), JAX_PLATFORMS='cpu')

  def train(name):
    return subprocess.run([sys.executable, '-m', 'experiments.train', '--config=tests/configs/tiny.py',
                           f'--workdir={tmp_path / name}', '--config.num_devices=1',
                           '--config.cpu_devices=1', '--verbose'],
                          cwd=ROOT, env={**env, 'JAX_DEBUG_LOG_MODULES': 'jax._src.compiler'},
                          capture_output=True, text=True, timeout=600)

  first = train('a')
  assert first.returncode == 0, first.stderr[-3000:]
  entries = os.listdir(cache)
  assert entries, 'the first run wrote no cache entries'
  second = train('b')
  assert second.returncode == 0, second.stderr[-3000:]
  # Every program the first run cached, the second loads. (A program near the 0.2 s threshold
  # may be cached by one run and not the other when the machine is busy, so the folder may
  # grow; what it held is never compiled again.)
  assert second.stderr.count('Persistent compilation cache hit') >= max(3, len(entries)), (
      len(entries), second.stderr[-3000:])
  assert set(entries) <= set(os.listdir(cache))
