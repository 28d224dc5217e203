"""Additive and affine coupling layers on images (Dinh et al.; Kingma & Dhariwal)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from vaeglow_jax.flows.options import StepOptions
from vaeglow_jax.layers.conv import Conv


class ZeroConv(nn.Module):
  """3x3 conv initialised to zero, output scaled by exp(3 * logs) (Glow).

  Zero init makes every coupling the identity at initialisation.
  """
  features: int
  kernel_size: tuple[int, int] = (3, 3)
  logscale_factor: float = 3.0
  conv_impl: str = 'auto'  # see vaeglow_jax.conv

  @nn.compact
  def __call__(self, x, out_dtype=None):
    """x: (batch, H, W, C) -> (batch, H, W, out_channels) in out_dtype (default x's), the coupling's
    conditioner output."""
    x = Conv(self.features, self.kernel_size, kernel_init=nn.initializers.zeros,
             bias_init=nn.initializers.zeros, impl=self.conv_impl)(x)
    if out_dtype is not None:
      x = x.astype(out_dtype)
    logs = self.param('logs', nn.initializers.zeros, (self.features,))
    return x * jnp.exp(logs * self.logscale_factor)


class CouplingNet(nn.Module, kw_only=True):
  """conv3x3 -> ReLU -> conv1x1 -> ReLU -> ZeroConv3x3, the Glow coupling net: `features`
  output channels, width `options.hidden`.

  options.net_dtype='bfloat16' computes the convolutions in bfloat16 (parameters stay
  float32) and returns the input's dtype, so shifts, scales and log-determinants
  are float32: a coupling stays exactly invertible, because its inverse runs the
  same bfloat16 net on the same kept half.
  """
  features: int
  options: StepOptions

  @nn.compact
  def __call__(self, x):
    """x: (batch, H, W, C) -> (batch, H, W, features); zero at init."""
    o = self.options
    out_dtype = x.dtype
    if o.net_dtype != 'float32':
      x = x.astype(o.net_dtype)
    x = nn.relu(Conv(o.hidden, (3, 3), impl=o.conv_impl)(x))
    x = nn.relu(Conv(o.hidden, (1, 1), impl=o.conv_impl)(x))
    return ZeroConv(self.features, conv_impl=o.conv_impl)(x, out_dtype)


def checkerboard_mask(height: int, width: int, parity: int) -> jax.Array:
  """(H, W, 1) float mask, 1 where (i + j) % 2 == parity."""
  i, j = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing='ij')
  return ((i + j) % 2 == parity).astype(jnp.float32)[..., None]


class Coupling(nn.Module, kw_only=True):
  """Coupling layer: one part of x is kept, the other shifted (and scaled).

  options.coupling: 'additive' y_b = x_b + t(x_a) (volume preserving, logdet 0), or
                    'affine'   y_b = (x_b + t(x_a)) * sigmoid(s(x_a) + 2) (Glow's form).
  options.mask: 'channel' splits channels in halves (needs C >= 2), or
                'checkerboard' alternates pixels spatially and applies two
                half-couplings (parity 0 then 1) so every pixel is transformed; it
                works for one-channel images without a squeeze.
  The net's last layer is zero-initialised: the layer starts as the identity.
  The nets' width, convolutions and compute dtype are the options' (see StepOptions).

  Input: (batch, H, W, C). Output: (y, logdet) with logdet (batch,).
  """
  options: StepOptions = StepOptions()

  def _shift_scale(self, net_out):
    if self.options.coupling == 'additive':
      return net_out, None
    shift, raw_scale = net_out[..., 0::2], net_out[..., 1::2]
    return shift, jax.nn.log_sigmoid(raw_scale + 2.0)

  @nn.compact
  def __call__(self, x: jax.Array, reverse: bool = False):
    """x: (batch, H, W, C) float32 -> (y, logdet): y the same shape (x for reverse=True), logdet
    (batch,) float32, log|det dy/dx| in nats summed over H, W, C (additive: 0; affine: the sum of
    the log-scales; the inverse returns the inverse's log-det, minus the forward's)."""
    mult = 1 if self.options.coupling == 'additive' else 2
    channels = x.shape[-1]
    if self.options.mask == 'channel':
      if channels < 2:
        raise ValueError(
            'channel-split coupling needs at least 2 channels; for 1-channel images use '
            "an initial squeeze (num_squeezes >= 1) or mask='checkerboard'.")
      c_a = channels // 2
      net = CouplingNet(features=(channels - c_a) * mult, options=self.options, name='net')
      x_a, x_b = x[..., :c_a], x[..., c_a:]
      shift, log_scale = self._shift_scale(net(x_a))
      if log_scale is None:
        y_b = x_b - shift if reverse else x_b + shift
        logdet = jnp.zeros((x.shape[0],), x.dtype)
      elif reverse:
        y_b = x_b * jnp.exp(-log_scale) - shift
        logdet = -jnp.sum(log_scale.reshape(x.shape[0], -1), axis=-1)
      else:
        y_b = (x_b + shift) * jnp.exp(log_scale)
        logdet = jnp.sum(log_scale.reshape(x.shape[0], -1), axis=-1)
      return jnp.concatenate([x_a, y_b], axis=-1), logdet

    # Checkerboard: two masked half-couplings; run in the opposite order in reverse.
    _, height, width, _ = x.shape
    nets = [CouplingNet(features=channels * mult, options=self.options, name=f'net_{p}')
            for p in (0, 1)]
    total = jnp.zeros((x.shape[0],), x.dtype)
    for parity in ((1, 0) if reverse else (0, 1)):
      keep = checkerboard_mask(height, width, parity).astype(x.dtype)
      shift, log_scale = self._shift_scale(nets[parity](x * keep))
      change = 1.0 - keep
      if log_scale is None:
        x = x - change * shift if reverse else x + change * shift
        continue
      log_scale = change * log_scale
      per_example = jnp.sum(log_scale.reshape(x.shape[0], -1), axis=-1)
      if reverse:
        x = keep * x + change * (x * jnp.exp(-log_scale) - shift)
        total = total - per_example
      else:
        x = keep * x + change * ((x + shift) * jnp.exp(log_scale))
        total = total + per_example
    return x, total
