"""Squeeze (space-to-depth) and its inverse; volume preserving (logdet 0)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def squeeze2d(x: jax.Array, factor: int = 2) -> jax.Array:
  """(B, H, W, C) -> (B, H/f, W/f, C*f*f); each f x f patch becomes channels."""
  b, h, w, c = x.shape
  if h % factor or w % factor:
    raise ValueError(
        f'squeeze needs H and W divisible by {factor}, got image shape {(h, w, c)}; '
        'use fewer squeezes or pad the images.')
  x = x.reshape(b, h // factor, factor, w // factor, factor, c)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h // factor, w // factor, c * factor * factor)


def unsqueeze2d(x: jax.Array, factor: int = 2) -> jax.Array:
  """Inverse of `squeeze2d`: (B, H, W, C*f*f) -> (B, H*f, W*f, C)."""
  b, h, w, c = x.shape
  if c % (factor * factor):
    raise ValueError(f'unsqueeze needs channels divisible by {factor * factor}, got {c}.')
  x = x.reshape(b, h, w, factor, factor, c // (factor * factor))
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * factor, w * factor, c // (factor * factor))


class Squeeze(nn.Module):
  """Flow-convention wrapper: `y, logdet = Squeeze().apply({}, x, reverse)`."""
  factor: int = 2

  def __call__(self, x: jax.Array, reverse: bool = False):
    """x: (batch, H, W, C) -> ((batch, H/2, W/2, 4C), zeros (batch,)); reverse: the inverse (a
    permutation, so log-det 0). H and W must be even."""
    logdet = jnp.zeros((x.shape[0],), x.dtype)
    if reverse:
      return unsqueeze2d(x, self.factor), logdet
    return squeeze2d(x, self.factor), logdet
