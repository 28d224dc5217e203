"""The decoder's 3x3 stride-2 transposed convolutions: XLA's (a convolution over the
zero-dilated input) against the sub-pixel form of vaeglow_jax.layers.conv, side by side.

Run: python -m benchmarks.conv_transpose [--batch=64] [--out=FILE]
Per layer of the quick Fashion-MNIST decoder (4x4x128 -> 8x8x64, 8x8x64 -> 16x16x32,
16x16x32 -> 32x32x16): milliseconds of jax.grad (input and kernel) of a sum of squares, median
of `repeats` calls after compilation, both forms alternating, and their largest output
difference.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import harness
from vaeglow_jax.layers import conv

# (input height, Cin, Cout) of the quick decoder's upsampling layers (base_channels 16, 3 scales).
QUICK_LAYERS = [(4, 128, 64), (8, 64, 32), (16, 32, 16)]
FORMS = {'xla': conv.conv_transpose_xla, 'subpixel': conv.conv_transpose_subpixel}


def rows(layers, batch: int, repeats: int) -> list[dict]:
  out = []
  for height, cin, cout in layers:
    x = jax.random.normal(jax.random.PRNGKey(0), (batch, height, height, cin))
    kernel = 0.1 * jax.random.normal(jax.random.PRNGKey(1), (3, 3, cin, cout))
    grads = {name: jax.jit(jax.grad(lambda a, k, f=f: jnp.sum(f(a, k) ** 2), argnums=(0, 1)))
             for name, f in FORMS.items()}
    times = {name: [] for name in FORMS}
    for g in grads.values():
      jax.block_until_ready(g(x, kernel))
    for _ in range(repeats):
      for name, g in grads.items():
        start = time.perf_counter()
        jax.block_until_ready(g(x, kernel))
        times[name].append(time.perf_counter() - start)
    difference = float(jnp.max(jnp.abs(FORMS['xla'](x, kernel) - FORMS['subpixel'](x, kernel))))
    ms = {name: 1e3 * harness.median(t) for name, t in times.items()}
    out.append({'height': height, 'cin': cin, 'cout': cout, 'batch': batch,
                'gradient_ms': ms, 'speedup': ms['xla'] / ms['subpixel'],
                'max_abs_difference': difference})
    print(out[-1], flush=True)
  return out


def main(argv):
  del argv
  f = flags.FLAGS
  harness.emit({'benchmark': 'conv_transpose', 'machine': harness.machine(),
                'results': rows(QUICK_LAYERS, f.batch, f.repeats)}, f.out)


if __name__ == '__main__':
  # Flags defined here, not at import: tests import `rows` beside other benchmarks' flags.
  flags.DEFINE_integer('batch', 64, 'batch size')
  flags.DEFINE_integer('repeats', 30, 'timed calls per form')
  flags.DEFINE_string('out', '', 'also write the JSON here')
  app.run(main)
