"""XLA's convolution against the matmul formulations of vaeglow_jax.conv, side by side.

Two parts, both medians after compilation:
- `shapes`: forward and gradient milliseconds of one stride-1 conv per formulation, at the
  coupling-net shapes of the paper-size models (batch `--batch`).
- `steps`: the real train step of each phase with `conv_impl='xla'` against `'auto'`,
  alternating rounds of timed steps so that both see the same machine load.

Run: python -m benchmarks.conv_impl [--batch=16] [--steps=6] [--out=FILE]  (--preset=test: tiny)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import harness
from vaeglow_jax.layers import conv

_PRESET = flags.DEFINE_string('preset', 'default', "'default' (paper sizes) or 'test' (tiny)")
_BATCH = flags.DEFINE_integer('batch', 16, 'batch size')
_STEPS = flags.DEFINE_integer('steps', 6, 'timed train steps per model (split over rounds)')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'alternating rounds of timed steps')
_PHASES = flags.DEFINE_list('phases', ['glow', 'glow_baseline'], 'phases whose steps to time')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')

# (height, Cin, Cout, kernel) of the coupling nets: the paper's Glow layer on 32x32x3
# (hidden 512, additive: 1 -> 512 -> 512 -> 2) and Glow L=3 at its three scales (affine).
PAPER_SHAPES = [(32, 1, 512, 3), (32, 512, 512, 1), (32, 512, 2, 3),
                (16, 6, 512, 3), (16, 512, 12, 3), (8, 12, 512, 3), (8, 512, 24, 3),
                (4, 24, 512, 3), (4, 512, 48, 3)]
TEST_SHAPES = [(8, 1, 16, 3), (8, 16, 16, 1), (8, 16, 2, 3)]


def shape_rows(shapes, batch, repeats=10):
  rows = []
  for height, cin, cout, k in shapes:
    x = jax.random.normal(jax.random.PRNGKey(0), (batch, height, height, cin))
    kernel = 0.1 * jax.random.normal(jax.random.PRNGKey(1), (k, k, cin, cout))
    row = {'height': height, 'cin': cin, 'cout': cout, 'kernel': k,
           'auto': conv.choose_impl(kernel.shape), 'ms': {}}
    impls = ['xla', 'matmul'] if k == 1 else ['xla', 'patches', 'taps']
    for impl in impls:
      fwd = lambda a, w, impl=impl: conv.conv2d_same(a, w, impl)
      grad = jax.grad(lambda a, w, impl=impl: jnp.sum(conv.conv2d_same(a, w, impl) ** 2), (0, 1))
      row['ms'][impl] = {
          'forward': 1e3 * harness.compile_and_time(fwd, x, kernel, steps=repeats)[0],
          'gradient': 1e3 * harness.compile_and_time(grad, x, kernel, steps=repeats)[0]}
    best = row['ms'][row['auto']]['gradient']
    row['gradient_speedup_auto_vs_xla'] = row['ms']['xla']['gradient'] / best
    rows.append(row)
    print(f"{height}x{height} {cin}->{cout} k{k}: " + ', '.join(
        f"{i} {v['forward']:.1f}/{v['gradient']:.1f} ms" for i, v in row['ms'].items()), flush=True)
  return rows


def step_rows(config, shape, phases, batch, steps, rounds):
  rows = {}
  for phase in phases:
    benches = {}
    for impl in ('xla', 'auto'):
      c = config.copy_and_resolve_references()
      c.model.glow.conv_impl = impl
      c.model.baseline.conv_impl = impl
      benches[impl] = harness.StepBench(c, phase, shape, batch)
    times = harness.alternate(benches, rounds, max(1, steps // rounds))
    medians = {impl: harness.median(t) for impl, t in times.items()}
    rows[phase] = {'median_step_seconds': medians,
                   'gflops_per_step': benches['auto'].flops() / 1e9,
                   'speedup_auto_vs_xla': medians['xla'] / medians['auto'],
                   'timed_steps_each': len(times['auto'])}
    print(f"{phase}: xla {medians['xla']:.3f} s, auto {medians['auto']:.3f} s", flush=True)
  return rows


def main(argv):
  del argv
  config = harness.model_config('cifar10', _PRESET.value)
  if _PRESET.value == 'default':  # the paper's Glow on CIFAR-10, as in benchmarks.epoch_ratio
    config.model.baseline.update(levels=3, depth=32, hidden=512, coupling='affine')
  shape = harness.image_shape_of(config, 'cifar10', _PRESET.value)
  shapes = PAPER_SHAPES if _PRESET.value == 'default' else TEST_SHAPES
  result = {'benchmark': 'conv_impl', 'preset': _PRESET.value, 'batch': _BATCH.value,
            'machine': harness.machine(),
            'shapes': shape_rows(shapes, _BATCH.value),
            'steps': step_rows(config, shape, _PHASES.value, _BATCH.value, _STEPS.value,
                               _ROUNDS.value)}
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
