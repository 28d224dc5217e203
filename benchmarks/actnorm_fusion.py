"""What fusing ActNorm into the invertible 1x1 convolution could save (a lever against the peer gap).

Run: python -m benchmarks.actnorm_fusion [--steps=30] [--out=FILE]
A flow step starts with y = ((x + b) * exp(s)) @ W^T (flows.ActNorm, then flows.InvConv1x1).
Folded into one matmul it is y = x @ (W diag(exp(s)))^T + (b * exp(s)) @ W^T. Both forms are
timed forward and backward (gradients for x, b, s and W, as in training) at every level's
shape of the peer benchmark's multi-scale Glows, and summed over the K steps of every level.
The saving is an upper bound for the train step's: the rest of the step is unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import harness, peer_configs

_STEPS = flags.DEFINE_integer('steps', 30, 'timed calls per form and shape')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')


def separate(x, bias, log_scale, w):
  return ((x + bias) * jnp.exp(log_scale)) @ w.T


def folded(x, bias, log_scale, w):
  scale = jnp.exp(log_scale)
  return x @ (w * scale).T + (bias * scale) @ w.T


def level_shapes(shape, levels):
  """(H, W, C) after each level's squeeze in a multi-scale Glow that halves channels at every
  split (glow.MultiScaleGlow)."""
  height, width, channels = shape
  out = []
  for _ in range(levels):
    height, width, channels = height // 2, width // 2, channels * 4
    out.append((height, width, channels))
    channels //= 2
  return out


def _time(form, x, bias, log_scale, w, steps):
  cotangent = jnp.ones_like(x)
  def loss(*args):
    return jnp.sum(form(*args) * cotangent)
  seconds, _ = harness.compile_and_time(jax.grad(loss, argnums=(0, 1, 2, 3)), x, bias, log_scale,
                                        w, steps=steps)
  return seconds


def main(argv):
  del argv
  rows = []
  report = {'benchmark': 'actnorm_fusion', 'machine': harness.machine(), 'results': rows}
  for shape, levels, depth, hidden, batch in peer_configs.CONFIGS:
    total = {'separate': 0.0, 'folded': 0.0}
    for index, (height, width, channels) in enumerate(level_shapes(shape, levels)):
      keys = jax.random.split(jax.random.PRNGKey(index), 4)
      x = jax.random.normal(keys[0], (batch, height, width, channels))
      bias = 0.1 * jax.random.normal(keys[1], (channels,))
      log_scale = 0.1 * jax.random.normal(keys[2], (channels,))
      w = jnp.linalg.qr(jax.random.normal(keys[3], (channels, channels)))[0]
      # Same numbers either way (float32 rounding apart).
      assert jnp.allclose(separate(x, bias, log_scale, w), folded(x, bias, log_scale, w),
                          atol=1e-4)
      for name, form in (('separate', separate), ('folded', folded)):
        total[name] += depth * _time(form, x, bias, log_scale, w, _STEPS.value)
    rows.append({'image_shape': list(shape), 'levels': levels, 'depth': depth, 'hidden': hidden,
                 'batch': batch,
                 'separate_seconds_per_step': total['separate'],
                 'folded_seconds_per_step': total['folded'],
                 'saved_seconds_per_step': total['separate'] - total['folded']})
    print(rows[-1], flush=True)
    harness.write(report, _OUT.value)
  harness.emit(report, _OUT.value)


if __name__ == '__main__':
  app.run(main)
