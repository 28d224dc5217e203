"""Time to a first result: the smoke run's four commands and `vaeglow_jax.load`, each with JAX's
persistent compilation cache cold (an empty folder) and then warm (the folder the cold run
filled), and `load`'s first call of each method against its later calls.

Run: python -m benchmarks.first_result [--config=fashion_mnist:smoke] [--calls=3] [--out=FILE]

Every command runs as its own process, as a user runs it (`python -m experiments.train` and so
on, with VAEGLOW_COMPILATION_CACHE pointing at the cache folder); wall seconds from start to exit.
The warm pass repeats the four commands into a new work directory. The `load` part, in a child
process per pass: load the smoke run, then sample(16), bits_per_dim and reconstruct of 16 uint8
images, each called once and then `--calls` times more (median of the later calls, each with
another seed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from benchmarks import harness

_CONFIG = flags.DEFINE_string('config', 'fashion_mnist:smoke', 'The config (NAME:PRESET).')
_CALLS = flags.DEFINE_integer('calls', 3, 'Later calls of each load method (median reported).')
_OUT = flags.DEFINE_string('out', '', 'Also write the JSON here.')
_STEPS = flags.DEFINE_integer('steps', 0, 'Override num_train_steps (0: the preset\'s; tests use '
                              'a few).')

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The child process of the load part: prints one JSON line of seconds.
_LOAD_CHILD = '''
import json, statistics, sys, time
start = time.perf_counter()
import jax, numpy as np, vaeglow_jax
vaeglow_jax.enable_compilation_cache()
workdir, calls = sys.argv[1], int(sys.argv[2])
out = {}
t = time.perf_counter(); run = vaeglow_jax.load(workdir, num_devices=1); out['load'] = time.perf_counter() - t
shape = (16,) + tuple(run.phase.image_shape)
images = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)  # any uint8 images
for name, call in (('sample', lambda i: run.sample(16, seed=i)),
                   ('bits_per_dim', lambda i: run.bits_per_dim(images, seed=i)),
                   ('reconstruct', lambda i: run.reconstruct(images))):
  times = []
  for i in range(calls + 1):
    t = time.perf_counter(); jax.block_until_ready(jax.tree_util.tree_map(np.asarray, call(i)))
    times.append(time.perf_counter() - t)
  out[name] = {'first': times[0], 'later_median': statistics.median(times[1:])}
  if name == 'sample':
    out['load_and_first_sample'] = out['load'] + times[0]
out['process'] = time.perf_counter() - start
print(json.dumps(out))
'''


def _commands(config: str, workdir: str, steps: int) -> list[tuple[str, list[str]]]:
  extra = [f'--config.num_train_steps={steps}'] if steps else []
  return [('train vae', ['experiments.train', f'--config={config}', f'--workdir={workdir}', *extra]),
          ('train glow', ['experiments.train', f'--config={config}', f'--workdir={workdir}',
                          '--config.phase=glow', *extra]),
          ('evaluate', ['experiments.evaluate', f'--workdir={workdir}', '--config.phase=glow']),
          ('sample', ['experiments.sample', f'--workdir={workdir}', '--num=16'])]


def _env(cache: str) -> dict:
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(('JAX_COMPILATION_CACHE', 'JAX_PERSISTENT_CACHE'))}
  return {**env, 'VAEGLOW_COMPILATION_CACHE': cache, 'JAX_PLATFORMS': 'cpu'}


def _run(args: list[str], env: dict) -> float:
  start = time.perf_counter()
  done = subprocess.run([sys.executable, '-m', *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=3600)
  if done.returncode:
    raise RuntimeError(f'{" ".join(args)} failed: {done.stderr[-2000:]}')
  return time.perf_counter() - start


def _cache_files(cache: str) -> int:
  return len(os.listdir(cache)) if os.path.isdir(cache) else 0


def main(argv):
  del argv
  result = {'benchmark': 'first_result', 'machine': harness.machine(), 'config': _CONFIG.value,
            'calls': _CALLS.value, 'commands': {}, 'load': {}}
  with tempfile.TemporaryDirectory(prefix='first_result_') as tmp:
    cache = os.path.join(tmp, 'xla')
    env = _env(cache)
    for state in ('cold', 'warm'):
      workdir = os.path.join(tmp, f'run_{state}')
      seconds = {name: _run(args, env)
                 for name, args in _commands(_CONFIG.value, workdir, _STEPS.value)}
      result['commands'][state] = {**seconds, 'total': sum(seconds.values()),
                                   'cache_files_after': _cache_files(cache)}
      harness.write(result, _OUT.value)
    load_cache = os.path.join(tmp, 'xla_load')  # its own folder: cold means cold
    for state in ('cold', 'warm'):
      done = subprocess.run([sys.executable, '-c', _LOAD_CHILD, os.path.join(tmp, 'run_cold'),
                             str(_CALLS.value)], cwd=ROOT, env=_env(load_cache),
                            capture_output=True, text=True, timeout=3600)
      if done.returncode:
        raise RuntimeError(f'the load child failed: {done.stderr[-2000:]}')
      result['load'][state] = json.loads(done.stdout.strip().splitlines()[-1])
      harness.write(result, _OUT.value)
  for name in ('sample', 'bits_per_dim', 'reconstruct'):
    timing = result['load']['cold'][name]
    timing['first_over_later'] = timing['first'] / timing['later_median']
  result['commands']['warm_over_cold'] = (result['commands']['warm']['total']
                                          / result['commands']['cold']['total'])
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
