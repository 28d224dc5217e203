"""ResNet VAE encoder and decoder after Dai & Wipf (2019), in Flax Linen.

Deviation from their code, on purpose: normalisation is GroupNorm (or none)
instead of BatchNorm, so every example's ELBO depends on that example alone
(exact per-example bounds, identical results for any batch split across
devices, no mutable batch statistics to freeze in phase 2).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from vaeglow_jax.layers import conv

VARIANCE_MODES = ('fixed', 'gamma', 'diagonal')
NORMS = ('group', 'none')  # the ResNet's normalisation


def _norm(kind: str, channels: int, name: str):
  if kind == 'group':
    # At most 32 groups, each with at least 4 channels when possible.
    groups = max(1, math.gcd(channels, min(32, max(1, channels // 4))))
    return nn.GroupNorm(num_groups=groups, name=name)
  if kind == 'none':
    return lambda x: x
  raise ValueError(f'norm must be one of {NORMS}, got {kind!r}.')


class ResBlock(nn.Module):
  """Residual block: conv shortcut + `depth` x (norm -> ReLU -> conv)."""
  features: int
  depth: int = 2
  norm: str = 'group'
  dense: bool = False  # True: dense layers on vectors instead of 3x3 convs.

  @nn.compact
  def __call__(self, x):
    """x: (batch, H, W, C) -> the same shape: a pre-activation residual block."""
    layer = (lambda f, n: nn.Dense(f, name=n)) if self.dense else (
        lambda f, n: nn.Conv(f, (3, 3), padding='SAME', name=n))
    shortcut = layer(self.features, 'shortcut')(x)
    for i in range(self.depth):
      x = layer(self.features, f'layer_{i}')(nn.relu(_norm(self.norm, x.shape[-1], f'norm_{i}')(x)))
    return x + shortcut


class ScaleBlock(nn.Module):
  """`blocks` residual blocks at one resolution."""
  features: int
  blocks: int = 1
  depth: int = 2
  norm: str = 'group'
  dense: bool = False

  @nn.compact
  def __call__(self, x):
    """x: (batch, H, W, C) -> (batch, H, W, features): one scale's blocks."""
    for i in range(self.blocks):
      x = ResBlock(self.features, self.depth, self.norm, self.dense, name=f'block_{i}')(x)
    return x


def _channels(base: int, level: int, cap: int = 1024) -> int:
  return min(base * 2 ** level, cap)


class Encoder(nn.Module):
  """q(z|x) = N(mu(x), diag(exp(2 log_std(x)))).

  conv3x3 to `base_channels`, then `num_scales` scale blocks with a stride-2
  conv (doubling channels, capped at 1024) between consecutive ones, spatial
  mean pooling, a residual fully-connected block of width `fc_dim`, and two
  dense heads.

  Input (batch, H, W, C) in [0, 1]; returns (mean, log_std), each (batch, latent_dim).
  """
  latent_dim: int = 64
  num_scales: int = 3
  base_channels: int = 32
  fc_dim: int = 512
  blocks_per_scale: int = 1
  norm: str = 'group'

  @nn.compact
  def __call__(self, x):
    """x: (batch, H, W, C) float32 in [0, 1) -> (mean, log_std) of q(z|x), each (batch, latent_dim)
    float32."""
    x = nn.Conv(self.base_channels, (3, 3), padding='SAME', name='conv_in')(x)
    for level in range(self.num_scales):
      features = _channels(self.base_channels, level)
      x = ScaleBlock(features, self.blocks_per_scale, norm=self.norm, name=f'scale_{level}')(x)
      if level < self.num_scales - 1:
        x = nn.Conv(_channels(self.base_channels, level + 1), (3, 3), strides=(2, 2),
                    padding='SAME', name=f'down_{level}')(x)
    x = jnp.mean(x, axis=(1, 2))
    x = ScaleBlock(self.fc_dim, self.blocks_per_scale, norm=self.norm, dense=True, name='fc')(x)
    x = nn.relu(x)
    mean = nn.Dense(self.latent_dim, name='mean')(x)
    log_std = nn.Dense(self.latent_dim, name='log_std')(x)
    return mean, log_std


def floor_log_std(raw: jax.Array, min_log_std: float) -> jax.Array:
  """Smooth max(raw, min_log_std): keeps the variance finite and gradients alive."""
  return min_log_std + jax.nn.softplus(raw - min_log_std)


def raw_for_log_std(log_std: jax.Array, min_log_std: float) -> jax.Array:
  """The raw value whose `floor_log_std` is log_std (log_std at or below the floor is raised
  to 1e-3 above it, where the inverse is still finite in float32)."""
  excess = jnp.maximum(log_std - min_log_std, 1e-3)
  # log(expm1(e)) = e + log(1 - exp(-e)), stable for large e.
  return min_log_std + excess + jnp.log(-jnp.expm1(-excess))


class Decoder(nn.Module):
  """p(x|z) = N(g_mu(z), diag(g_sigma(z)^2)), the VAE's pixel-space Gaussian.

  Dense to (s0, s0, C0) with s0 = ceil(H / 2^num_scales), then `num_scales` x
  (stride-2 transposed conv halving channels -> scale block), a 3x3 conv to the
  image channels and a centre crop to (H, W) (so 28x28 works: 4 -> 32 -> crop).
  The mean goes through a sigmoid (images live in [0, 1]).

  Variance modes (`variance`):
    'fixed'    log_std = fixed_log_std everywhere (no parameter),
    'gamma'    one scalar log-gamma (Dai & Wipf), initialised at `log_gamma_init`; the
               trainer learns it by gradient or sets it to its closed-form optimum
               (`model.gamma.update`, see phases.VAEPhase.set_optimal_gamma),
    'diagonal' a per-pixel log-std predicted by the decoder (the paper's extension).
  Learned log-stds are floored smoothly at `min_log_std`. `conv_impl` computes the
  upsampling (conv.TRANSPOSE_IMPLS; the parameters are nn.ConvTranspose's either way).

  Input (batch, latent_dim); returns (mean, log_std), each (batch, H, W, C)
  (log_std broadcast to that shape).
  """
  image_shape: tuple[int, int, int]
  num_scales: int = 3
  base_channels: int = 32
  blocks_per_scale: int = 1
  norm: str = 'group'
  variance: str = 'gamma'
  fixed_log_std: float = 0.0
  min_log_std: float = -7.0
  log_gamma_init: float = 0.0
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, z):
    """z: (batch, latent_dim) -> (mean, log_std) of p(x|z), each (batch, H, W, C) float32 (pixel
    units, x in [0, 1)); log_std per pixel (diagonal), one broadcast scalar (gamma, fixed),
    floored smoothly at min_log_std."""
    if self.variance not in VARIANCE_MODES:
      raise ValueError(f'decoder variance must be one of {VARIANCE_MODES}, got {self.variance!r}.')
    height, width, channels = self.image_shape
    side = math.ceil(max(height, width) / 2 ** self.num_scales)
    features = _channels(self.base_channels, self.num_scales)
    x = nn.Dense(side * side * features, name='dense_in')(z)
    x = x.reshape(z.shape[0], side, side, features)
    for level in reversed(range(self.num_scales)):
      features = _channels(self.base_channels, level)
      x = conv.ConvTranspose(features, impl=self.conv_impl, name=f'up_{level}')(x)
      x = ScaleBlock(features, self.blocks_per_scale, norm=self.norm, name=f'scale_{level}')(x)
    x = nn.relu(x)
    out_channels = channels * (2 if self.variance == 'diagonal' else 1)
    x = nn.Conv(out_channels, (3, 3), padding='SAME', name='conv_out')(x)
    top, left = (x.shape[1] - height) // 2, (x.shape[2] - width) // 2
    x = x[:, top:top + height, left:left + width, :]
    mean = jax.nn.sigmoid(x[..., :channels])
    if self.variance == 'fixed':
      log_std = jnp.full_like(mean, self.fixed_log_std)
    elif self.variance == 'gamma':
      log_gamma = self.param('log_gamma', nn.initializers.constant(self.log_gamma_init), ())
      log_std = jnp.broadcast_to(floor_log_std(log_gamma, self.min_log_std), mean.shape)
    else:
      log_std = floor_log_std(x[..., channels:], self.min_log_std)
    return mean, log_std
