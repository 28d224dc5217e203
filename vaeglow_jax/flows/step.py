"""One Glow flow step and a scanned stack of K of them."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax.flows import registry
from vaeglow_jax.flows.options import StepOptions


class FlowStep(nn.Module, kw_only=True):
  """options.layers in order (Glow's actnorm -> invertible 1x1 conv -> coupling by default,
  built by flows.registry); reverse runs the exact inverse.

  `options` say what the step is built of (StepOptions). `identity_init=True` starts the
  whole step as the identity map (ActNorm without data-dependent init, 1x1 conv = I;
  couplings always start as the identity), for flows stacked on a learned base such as the
  VAE decoder.

  Input (batch, H, W, C); returns (y, logdet) with logdet (batch,).
  """
  options: StepOptions = StepOptions()
  identity_init: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, reverse: bool = False):
    """x: (batch, H, W, C) float32 -> (y, logdet): y the same shape (x for reverse=True), logdet
    (batch,) float32, log|det dy/dx| in nats summed over H, W, C (ActNorm, 1x1 convolution,
    coupling; the inverse returns the inverse's log-det, minus the forward's)."""
    bad = registry.problems(self.options.layers)
    if bad:
      raise ValueError('; '.join(bad))
    layers = registry.build(self.options.layers, self.options, self.identity_init)
    total = jnp.zeros((x.shape[0],), x.dtype)
    for layer in (reversed(layers) if reverse else layers):
      x, logdet = layer(x, reverse)
      total = total + logdet
    return x, total


MIXINGS = ('none', 'reverse', 'shuffle')
_SHUFFLE_SEED = 20260101  # fixed: the permutations are architecture, not learned state


def mixing_permutations(mixing: str, depth: int, channels: int) -> np.ndarray:
  """(depth, channels) fixed channel permutations, one applied before each step's 1x1 conv.

  'none': identity (with an identity-initialised 1x1 conv, every coupling then updates the
  same channel half from the same other half at init: the stack starts as one coupling);
  'reverse': reverse the channels at every step (Glow's 'reverse'); 'shuffle': a different
  seeded random permutation per step. `final_permutation` undoes their product, so a stack
  that starts as the identity still does.
  """
  if mixing not in MIXINGS:
    raise ValueError(f'flow mixing must be one of {MIXINGS}, got {mixing!r}.')
  if mixing == 'none':
    return np.tile(np.arange(channels), (depth, 1))
  if mixing == 'reverse':
    return np.tile(np.arange(channels)[::-1], (depth, 1))
  rng = np.random.default_rng(_SHUFFLE_SEED + channels)
  return np.stack([rng.permutation(channels) for _ in range(depth)])


def final_permutation(permutations: np.ndarray) -> np.ndarray:
  """(channels,) the permutation that undoes applying each row of `permutations` in turn."""
  order = np.arange(permutations.shape[1])
  for perm in permutations:
    order = order[perm]  # x[..., perm] after x[..., order] is x[..., order[perm]]
  return np.argsort(order)


class _ScanBody(nn.Module, kw_only=True):
  """Adapts FlowStep to nn.scan's (carry, xs) -> (carry, ys) signature."""
  options: StepOptions
  identity_init: bool
  reverse: bool

  @nn.compact
  def __call__(self, carry, permutation):
    x, logdet = carry
    if not self.reverse:
      x = jnp.take(x, permutation, axis=-1)
    y, step_logdet = FlowStep(options=self.options, identity_init=self.identity_init,
                              name='step')(x, self.reverse)
    if self.reverse:
      y = jnp.take(y, jnp.argsort(permutation), axis=-1)
    return (y, logdet + step_logdet), None


def default_unroll(depth: int, remat: bool = False, backend: str | None = None) -> int:
  """Flow steps unrolled per loop iteration when a flow's `unroll` is 0 (the default).

  With remat: 1 (remat only saves memory in a rolled loop). Else by backend: on CPU all
  `depth` steps, since XLA:CPU runs a rolled loop's backward pass slower and compiles are
  seconds at CPU sizes; on GPU and TPU 1, since a paper-size unrolled flow compiles for
  minutes there (benchmarks/compile_time.py; BENCHMARKS.md, "Compile time").
  """
  if remat:
    return 1
  return depth if (backend or jax.default_backend()) == 'cpu' else 1


class FlowSteps(nn.Module, kw_only=True):
  """K flow steps with stacked parameters (leading axis K), run by `nn.scan`.

  Parameters are stacked (one pytree for all K steps) whatever `unroll` is.
  `unroll` steps are unrolled per loop iteration; 0 (the default) picks
  (`default_unroll`): 1 with remat, else all K on CPU and 1 on GPU/TPU. Unrolled is faster
  on CPU: XLA:CPU ran the
  backward pass of a rolled scan of XLA convolutions an order of magnitude
  slower (8 affine steps at 14x14x4, batch 64: 11.1 s rolled vs 0.80 s
  unrolled per gradient; with vaeglow_jax.conv's matmul forms the gap is about
  1.2x). But remat only saves memory in a rolled loop: unrolled, XLA:CPU
  schedules every recomputation early and keeps the activations anyway
  (measured: 563 MiB with remat against 540 MiB without, rolled 116 MiB).
  unroll=1 also compiles one step instead of K (faster compiles for deep flows).
  `options` say what each step is built of (StepOptions: coupling width and kind, mask,
  LU, convolution implementation, compute dtype); `identity_init` as in FlowStep.
  `remat=True` recomputes each step's activations in the backward pass
  (jax.checkpoint), trading compute for memory in deep flows.
  `mixing` puts a fixed channel permutation before each step (`mixing_permutations`) and
  undoes their product after the last, so that identity-initialised steps still split the
  channels differently; permutations have no log-determinant.
  """
  depth: int
  options: StepOptions = StepOptions()
  identity_init: bool = False
  remat: bool = False
  unroll: int = 0
  mixing: str = 'none'

  @nn.compact
  def __call__(self, x: jax.Array, reverse: bool = False):
    """x: (batch, H, W, C) float32 -> (y, logdet): y the same shape (x for reverse=True), logdet
    (batch,) float32, log|det dy/dx| in nats summed over H, W, C (the sum of the K steps; the
    inverse returns the inverse's log-det, minus the forward's)."""
    permutations = mixing_permutations(self.mixing, self.depth, x.shape[-1])
    undo = final_permutation(permutations)
    if reverse:
      x = jnp.take(x, np.argsort(undo), axis=-1)
    body = nn.remat(_ScanBody) if self.remat else _ScanBody
    stack = nn.scan(body, variable_axes={'params': 0, 'constants': 0},
                    split_rngs={'params': True}, length=self.depth, reverse=reverse,
                    unroll=self.unroll or default_unroll(self.depth, self.remat))
    (y, logdet), _ = stack(options=self.options, identity_init=self.identity_init,
                           reverse=reverse, name='steps')((x, jnp.zeros((x.shape[0],), x.dtype)),
                                                          jnp.asarray(permutations))
    if not reverse:
      y = jnp.take(y, undo, axis=-1)
    return y, logdet
