"""What the public modules take, checked when they are traced (shapes and dtypes are static), so a
wrong input is one line that says what was expected and what came, not an error deep in a scan.

The low-precision policy: bfloat16 and float16 inputs are cast to float32, so the flows'
log-determinants (sums over every pixel) are float32 whatever the caller holds; the outputs are
float32. Integer, boolean and complex inputs are refused: images are dequantised first
(losses.dequantize).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax.errors import UserError

_HALF = (jnp.bfloat16, jnp.float16)


class ModelInputError(UserError, ValueError):
  """An input of the wrong rank or dtype; the message says what the module takes."""


def _float(x: jax.Array, who: str, what: str) -> jax.Array:
  dtype = np.dtype(x.dtype)
  if dtype in [np.dtype(d) for d in _HALF]:
    return x.astype(jnp.float32)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ModelInputError(f'{who} takes float32 {what}; got {dtype}'
                          + ('. Dequantise uint8 images first: losses.dequantize(images, rng, '
                             'n_bits) gives float32 in [0, 1).' if what == 'images' else '.'))
  return x


def images(x: jax.Array, who: str) -> jax.Array:
  """x as a float batch of images (batch, H, W, C) (half precision cast to float32), or a
  ModelInputError naming `who`."""
  x = jnp.asarray(x)
  if x.ndim != 4:
    hint = (': add a batch axis (x[None]) or a channel axis (x[..., None])' if x.ndim == 3
            else '')
    raise ModelInputError(f'{who} takes images of shape (batch, H, W, C); got shape '
                          f'{tuple(x.shape)}{hint}.')
  return _float(x, who, 'images')


def vectors(z: jax.Array, who: str) -> jax.Array:
  """z as a float batch of vectors (batch, dim) (half precision cast to float32), or a
  ModelInputError naming `who`."""
  z = jnp.asarray(z)
  if z.ndim != 2:
    hint = ': add a batch axis (z[None])' if z.ndim == 1 else ''
    raise ModelInputError(f'{who} takes latents of shape (batch, latent_dim); got shape '
                          f'{tuple(z.shape)}{hint}.')
  return _float(z, who, 'latents')
