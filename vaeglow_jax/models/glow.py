"""The paper's single-scale Glow layer and the multi-scale Glow baseline."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from vaeglow_jax.flows import FlowSteps, StepOptions, ZeroConv, squeeze2d, unsqueeze2d
from vaeglow_jax.models import inputs, losses


class GlowLayer(nn.Module, kw_only=True):
  """f: x -> x_tilde, K flow steps at one scale with no split (the paper's layer).

  `num_squeezes` initial squeezes (each 2x2 space-to-depth) are undone at the
  end, so x_tilde has the shape of x and can be scored under the VAE decoder's
  pixel-space Gaussian. A 1-channel image needs one squeeze (28x28x1 ->
  14x14x4) or step.mask='checkerboard'. `step` says what each of the K steps is built of
  (flows.StepOptions: coupling width and kind, mask, LU, convolutions, compute dtype).

  With `identity_init`, every 1x1 convolution starts as the identity, so without `mixing`
  all K couplings would update the same channel half from the same other half at init;
  mixing='reverse' or 'shuffle' permutes the channels between steps (and undoes the
  product at the end, so f still starts as the identity).

  `identity_init=True` (the default here) makes f the identity at init, so
  phase 2 starts exactly at the phase-1 bound and can only improve on it; a
  data-dependent ActNorm would instead standardise x, far from the decoder's
  base distribution N(g_mu(z), g_sigma(z)^2) (seen: phase-2 bits/dim starting
  at ~30 instead of the phase-1 ~5.5 on Fashion-MNIST).

  Input (batch, H, W, C); returns (x_tilde, logdet) with logdet (batch,) =
  log|det df/dx|; reverse=True computes f^-1 and its log-determinant.
  """
  depth: int = 32
  num_squeezes: int = 0
  step: StepOptions = StepOptions()
  identity_init: bool = True
  mixing: str = 'none'  # fixed channel permutations between steps, see flows.mixing_permutations
  remat: bool = False
  unroll: int = 0  # flow steps per loop iteration; 0: flows.default_unroll (by backend)

  @nn.compact
  def __call__(self, x: jax.Array, reverse: bool = False):
    """f: x -> x_tilde. x: (batch, H, W, C) float32 (dequantised pixels in [0, 1)) -> (x_tilde of
    the same shape, logdet (batch,) float32, log|det df/dx| in nats); reverse=True: x_tilde -> x
    and the inverse's log-det. bfloat16 input is cast to float32 (the log-dets need it); other
    dtypes and ranks are refused with one line."""
    x = inputs.images(x, 'GlowLayer')
    for _ in range(self.num_squeezes):
      x = squeeze2d(x)
    x, logdet = FlowSteps(depth=self.depth, options=self.step, identity_init=self.identity_init,
                          remat=self.remat, unroll=self.unroll, mixing=self.mixing,
                          name='flow')(x, reverse)
    for _ in range(self.num_squeezes):
      x = unsqueeze2d(x)
    return x, logdet


class MultiScaleGlow(nn.Module, kw_only=True):
  """Glow (Kingma & Dhariwal 2018): L levels of squeeze -> K steps -> split.

  At each level but the last, the second channel half z_i is factored out and
  modelled by a Gaussian whose mean and log-std come from a zero-initialised
  conv of the kept half h_i; the last level has a learned top prior (a mean and
  log-std per position and channel, zero-initialised).

  The module is a bijection x <-> eps with eps of x's shape: each factored-out
  part is standardised, eps_i = (z_i - mu(h_i)) / sigma(h_i), and the parts are
  reassembled by undoing the squeezes. Hence
      log p(x) = log N(eps; 0, I) + logdet          (see `log_prob`)
  and sampling with temperature T is `reverse` on T * N(0, I) noise.

  `step` says what each flow step is built of (flows.StepOptions; Glow's affine coupling by
  default); its conv_impl also computes the split priors' convolutions.

  Input (batch, H, W, C) with H, W divisible by 2^levels. Returns (eps, logdet).
  """
  levels: int = 3
  depth: int = 32
  step: StepOptions = StepOptions(coupling='affine')
  remat: bool = False
  unroll: int = 0  # flow steps per loop iteration; 0: flows.default_unroll (by backend)

  def _steps(self, level):
    return FlowSteps(depth=self.depth, options=self.step, remat=self.remat, unroll=self.unroll,
                     name=f'level_{level}')

  def _split_prior(self, level, h, channels):
    out = ZeroConv(2 * channels, conv_impl=self.step.conv_impl, name=f'split_prior_{level}')(h)
    return out[..., 0::2], out[..., 1::2]

  def _top_prior(self, shape):
    mean = self.param('top_mean', nn.initializers.zeros, shape)
    log_std = self.param('top_log_std', nn.initializers.zeros, shape)
    return mean, log_std

  @nn.compact
  def __call__(self, x: jax.Array, reverse: bool = False):
    """x: (batch, H, W, C) float32 -> (eps, logdet): eps the flat latent (batch, H W C), logdet
    (batch,) nats; reverse=True: eps -> (x, -logdet). log_prob(x) = N(eps; top Gaussians) +
    logdet (log_prob, sample). Half precision is cast to float32."""
    if reverse:
      return self._inverse(x)
    x = inputs.images(x, 'MultiScaleGlow')
    batch = x.shape[0]
    logdet = jnp.zeros((batch,), x.dtype)
    eps_parts = []
    h = x
    for level in range(self.levels):
      h, step_logdet = self._steps(level)(squeeze2d(h))
      logdet = logdet + step_logdet
      if level < self.levels - 1:
        c_keep = h.shape[-1] // 2
        h, z = h[..., :c_keep], h[..., c_keep:]
        mean, log_std = self._split_prior(level, h, z.shape[-1])
      else:
        z = h
        mean, log_std = self._top_prior(z.shape[1:])
      eps_parts.append((z - mean) * jnp.exp(-log_std))
      logdet = logdet - jnp.sum(jnp.broadcast_to(log_std, z.shape).reshape(batch, -1), -1)
    # Reassemble the parts into x's shape by undoing the squeezes.
    eps = eps_parts[-1]
    for part in reversed(eps_parts[:-1]):
      eps = jnp.concatenate([unsqueeze2d(eps), part], axis=-1)
    return unsqueeze2d(eps), logdet

  def _inverse(self, eps: jax.Array):
    batch = eps.shape[0]
    parts = []
    a = squeeze2d(eps)
    for _ in range(self.levels - 1):
      c_keep = a.shape[-1] // 2
      parts.append(a[..., c_keep:])
      a = squeeze2d(a[..., :c_keep])
    logdet = jnp.zeros((batch,), eps.dtype)
    h = None
    for level in reversed(range(self.levels)):
      if level == self.levels - 1:
        mean, log_std = self._top_prior(a.shape[1:])
        t = mean + jnp.exp(log_std) * a
        z_shape = a.shape
      else:
        h = unsqueeze2d(h)
        mean, log_std = self._split_prior(level, h, parts[level].shape[-1])
        t = jnp.concatenate([h, mean + jnp.exp(log_std) * parts[level]], axis=-1)
        z_shape = parts[level].shape
      logdet = logdet + jnp.sum(jnp.broadcast_to(log_std, z_shape).reshape(batch, -1), -1)
      h, step_logdet = self._steps(level)(t, reverse=True)
      logdet = logdet + step_logdet
    return unsqueeze2d(h), logdet

  def log_prob(self, x: jax.Array) -> jax.Array:
    """(batch,) exact log-density of x in nats."""
    eps, logdet = self(x)
    return losses.standard_normal_log_prob(eps) + logdet

  def sample(self, noise: jax.Array, temperature: float = 1.0) -> jax.Array:
    """Maps N(0, I) noise of the image shape to images at the given temperature."""
    x, _ = self(temperature * noise, reverse=True)
    return x
