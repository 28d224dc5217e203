"""Activation normalisation (Kingma & Dhariwal 2018) with data-dependent init."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class ActNorm(nn.Module):
  """Per-channel affine map y = (x + bias) * exp(log_scale).

  Data-dependent initialisation: `model.init(rng, batch)` sets bias and
  log_scale so that the init batch leaves with zero mean and unit standard
  deviation per channel. The statistics are stored as ordinary parameters, so
  `apply` (and a model restored from a checkpoint) never re-initialises. Under
  data parallelism the batch mean is over the global (sharded) batch.

  Input: (batch, ..., C), the last axis being channels. Every other non-batch
  axis counts towards the log-determinant, so logdet = (H*W) * sum(log_scale)
  for images and sum(log_scale) for vectors.
  """
  eps: float = 1e-6
  data_init: bool = True  # False: start as the identity (bias 0, log_scale 0)

  @nn.compact
  def __call__(self, x: jax.Array, reverse: bool = False):
    """x: (batch, H, W, C) float32 -> (y, logdet): y the same shape (x for reverse=True), logdet
    (batch,) float32, log|det dy/dx| in nats summed over H, W, C (a per-channel affine map: log-
    det H W sum(log|scale|); the inverse returns the inverse's log-det, minus the forward's)."""
    channels = x.shape[-1]
    reduce_axes = tuple(range(x.ndim - 1))
    # Data-dependent init only makes sense on data, i.e. in the forward direction.
    data_init = self.data_init and self.is_initializing() and not reverse

    def init_bias(_, shape):
      if not data_init:
        return jnp.zeros(shape, jnp.float32)
      return -jnp.mean(x, axis=reduce_axes).astype(jnp.float32)

    def init_log_scale(_, shape):
      if not data_init:
        return jnp.zeros(shape, jnp.float32)
      std = jnp.std(x, axis=reduce_axes).astype(jnp.float32)
      return -jnp.log(std + self.eps)

    bias = self.param('bias', init_bias, (channels,))
    log_scale = self.param('log_scale', init_log_scale, (channels,))
    positions = x[0, ..., 0].size  # H*W for images, 1 for vectors.
    logdet = positions * jnp.sum(log_scale) * jnp.ones((x.shape[0],), x.dtype)
    if reverse:
      return x * jnp.exp(-log_scale) - bias, -logdet
    return (x + bias) * jnp.exp(log_scale), logdet
