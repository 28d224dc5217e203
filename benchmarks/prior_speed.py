"""Density and sampling of the latent priors, MAF against RealNVP, side by side.

Run: python -m benchmarks.prior_speed [--dims=16,64] [--num=10000] [--rounds=5] [--out=FILE]
For each latent size and prior kind (the 'quick' preset's prior: model.prior num_layers, hidden,
num_hidden), on `num` latents: the compile seconds (lower + XLA compile) and the median seconds
of log p(z) (one pass per layer) and of sampling (MAF: latent_dim sequential passes per layer),
timed in alternating rounds so load hits every row alike. Rows are written after each size.
"""

from __future__ import annotations

import time

import jax
from absl import app, flags

from benchmarks import harness
from vaeglow_jax.models import build as build_lib

_DIMS = flags.DEFINE_list('dims', ['16', '64'], 'latent sizes (16: the quick preset\'s)')
_NUM = flags.DEFINE_integer('num', 10_000, 'latents per call')
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'alternating rounds; the median call is reported')
_PRESET = flags.DEFINE_string('preset', 'fashion_mnist:quick', 'dataset:preset whose prior size is used')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')
KINDS = ('flow', 'maf')


def _compiled(fn, *args):
  """(compile seconds, compiled fn)."""
  start = time.perf_counter()
  compiled = jax.jit(fn).lower(*args).compile()
  return time.perf_counter() - start, compiled


def _seconds(compiled, *args) -> float:
  start = time.perf_counter()
  jax.block_until_ready(compiled(*args))
  return time.perf_counter() - start


def main(argv):
  del argv
  jax.config.update('jax_enable_compilation_cache', False)
  dataset, preset = _PRESET.value.split(':')
  prior_config = dict(harness.model_config(dataset, preset).model.prior)
  rows = []
  result = {'benchmark': 'prior_speed', 'machine': harness.machine(), 'num': _NUM.value,
            'rounds': _ROUNDS.value, 'prior': {k: prior_config[k] for k in
                                               ('num_layers', 'hidden', 'num_hidden')},
            'preset': _PRESET.value, 'results': rows}
  for dim in map(int, _DIMS.value):
    z = jax.random.normal(jax.random.PRNGKey(0), (_NUM.value, dim))
    benches = {}
    for kind in KINDS:
      module = build_lib.prior({**prior_config, 'kind': kind})
      variables = jax.jit(module.init)(jax.random.PRNGKey(1), z[:2])
      # Trained-like parameters: the zero-initialised output layers would make both identities.
      leaves, tree = jax.tree_util.tree_flatten(variables)
      keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
      variables = jax.tree_util.tree_unflatten(
          tree, [p + 0.05 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
      density = lambda v, a, m=module: m.apply(v, a, method=type(m).log_prob)  # noqa: E731
      sample = lambda v, a, m=module: m.apply(v, a, 1.0, method=type(m).sample)  # noqa: E731
      for name, fn in (('density', density), ('sampling', sample)):
        compile_seconds, compiled = _compiled(fn, variables, z)
        jax.block_until_ready(compiled(variables, z))  # warm-up
        benches[(kind, name)] = (compiled, variables, compile_seconds)
    times = {key: [] for key in benches}
    for _ in range(_ROUNDS.value):
      for key, (compiled, variables, _) in benches.items():
        times[key].append(_seconds(compiled, variables, z))
    for (kind, name), (_, _, compile_seconds) in benches.items():
      rows.append({'latent_dim': dim, 'kind': kind, 'op': name,
                   'compile_seconds': compile_seconds,
                   'median_seconds': harness.median(times[(kind, name)]),
                   'all_seconds': times[(kind, name)]})
      print(f'dim {dim} {kind} {name}: compile {compile_seconds:.2f} s, median '
            f'{harness.median(times[(kind, name)]) * 1000:.1f} ms', flush=True)
    harness.write(result, _OUT.value)
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
