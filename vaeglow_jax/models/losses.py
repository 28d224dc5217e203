"""Pure, jit-able loss functions for VAEs and normalizing flows.

Every function returns per-example values (leading batch axis kept, all other
axes summed); the caller decides how to reduce over the batch. Units are nats
unless the name says bits. The first axis is always the batch: under jax.vmap
over single examples (where it is gone) give each example a batch axis of one
(x[None]) and take [0] of the result. Integer arguments (n_bits, num_dims) are
Python ints: under jax.jit pass them as static (static_argnames) or close over
them.

Data convention: an n-bit image with integer values k in [0, 2^n) is mapped to
y = (k + u) / 2^n with u ~ U[0, 1)^D, i.e. a continuous variable on [0, 1)^D.
A density p(y) on that cube gives the discrete log-likelihood bound
log P(k) >= E_u[log p(y)] - D * n * log(2), which is what bits/dim reports.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from vaeglow_jax.errors import UserError

Array = jax.Array

LOG_2PI = math.log(2.0 * math.pi)


def _sum_except_batch(values: Array) -> Array:
  return jnp.sum(values.reshape(values.shape[0], -1), axis=-1)


def gaussian_log_prob(x: Array, mean: Array, log_std: Array) -> Array:
  """Log-density of a diagonal Gaussian, summed over all non-batch axes.

  Args:
    x: (batch, ...) points.
    mean: broadcastable to x.
    log_std: natural log of the standard deviation, broadcastable to x.

  Returns:
    (batch,) log N(x; mean, diag(exp(2 * log_std))) in nats.
  """
  mean = jnp.broadcast_to(mean, x.shape)
  log_std = jnp.broadcast_to(log_std, x.shape)
  z = (x - mean) * jnp.exp(-log_std)
  return _sum_except_batch(-0.5 * jnp.square(z) - log_std - 0.5 * LOG_2PI)


def standard_normal_log_prob(x: Array) -> Array:
  """(batch,) log N(x; 0, I) in nats, summed over all non-batch axes."""
  return _sum_except_batch(-0.5 * jnp.square(x) - 0.5 * LOG_2PI)


def kl_diag_gaussian_standard_normal(mean: Array, log_std: Array) -> Array:
  """Closed-form KL(N(mean, diag(exp(2 log_std))) || N(0, I)).

  Args:
    mean: (batch, ...) posterior means.
    log_std: (batch, ...) posterior log standard deviations.

  Returns:
    (batch,) KL divergence in nats.
  """
  var = jnp.exp(2.0 * log_std)
  return _sum_except_batch(0.5 * (jnp.square(mean) + var - 1.0) - log_std)


def kl_single_sample(z: Array, mean: Array, log_std: Array,
                     log_prior: Array | Callable[[Array], Array]) -> Array:
  """Single-sample Monte-Carlo KL: log q(z|x) - log p(z) for z ~ q(z|x).

  Unbiased for KL(q || p) with any prior whose log-density can be evaluated
  (e.g. a flow prior).

  Args:
    z: (batch, latent_dim) a sample from the posterior.
    mean, log_std: (batch, latent_dim) the posterior parameters.
    log_prior: either (batch,) values log p(z) or a function z -> (batch,).

  Returns:
    (batch,) log q(z|x) - log p(z) in nats.
  """
  log_p = log_prior(z) if callable(log_prior) else log_prior
  return gaussian_log_prob(z, mean, log_std) - log_p


def neg_elbo(log_likelihood: Array, kl: Array) -> Array:
  """Negative evidence lower bound, -(E_q[log p(x|z)] - KL), per example.

  Args:
    log_likelihood: (batch,) log p(x|z) in nats (a single-sample estimate).
    kl: (batch,) KL term (closed form or single sample) in nats.

  Returns:
    (batch,) negative ELBO in nats; an upper bound on -log p(x) in expectation.
  """
  return kl - log_likelihood


def iw_log_likelihood(log_weights: Array) -> Array:
  """Importance-weighted bound log (1/K) sum_k w_k from K log-weights.

  Args:
    log_weights: (K, batch) values log p(x, z_k) - log q(z_k | x), z_k ~ q.

  Returns:
    (batch,) the IWAE lower bound on log p(x) in nats (K = 1 gives the ELBO).
  """
  num_samples = log_weights.shape[0]
  return jax.nn.logsumexp(log_weights, axis=0) - math.log(num_samples)


class LossInputError(UserError, ValueError):
  """An argument a loss cannot take; the message says what it takes."""


def _check_n_bits(n_bits: int) -> None:
  if not 1 <= int(n_bits) <= 8:
    raise LossInputError(f'n_bits must be in 1..8, got {n_bits}.')


def quantize(images: Array, n_bits: int) -> Array:
  """Reduces 8-bit integer images to n-bit integer levels in [0, 2^n).

  Args:
    images: uint8 or integer-valued array in [0, 255].
    n_bits: bits per sub-pixel kept, 1..8.

  Returns:
    float32 array of integer levels k in [0, 2^n_bits).
  """
  _check_n_bits(n_bits)
  images = jnp.asarray(images)
  if not (jnp.issubdtype(images.dtype, jnp.integer) or images.dtype == jnp.bool_):
    raise LossInputError(f'quantize and dequantize take integer pixel codes in [0, 255] (uint8); '
                         f'got {images.dtype}. Images already in [0, 1] are dequantised: give them '
                         'to the model as they are, or convert with (x * 255).round().astype(uint8).')
  images = images.astype(jnp.float32)
  return jnp.floor(images / 2.0 ** (8 - n_bits))


def dequantize(images: Array, rng: Array | None, n_bits: int) -> Array:
  """Uniform dequantisation: 8-bit images -> y = (k + u) / 2^n in [0, 1).

  Args:
    images: (batch, H, W, C) uint8 (or another integer dtype), values in [0, 255]; a float
      array is refused (LossInputError).
    rng: PRNG key for u ~ U[0, 1); None uses u = 0.5 (the bin centres, for
      deterministic evaluation and figures).
    n_bits: bits per sub-pixel, 1..8 (a Python int: static under jit).

  Returns:
    float32 array of the same shape, values in [0, 1).
  """
  levels = quantize(images, n_bits)
  if rng is None:
    noise = 0.5
  else:
    noise = jax.random.uniform(rng, levels.shape, jnp.float32)
  return (levels + noise) / 2.0 ** n_bits


def discretization_nats(num_dims: int, n_bits: int) -> float:
  """D * n * log(2): nats lost when a density on [0,1)^D scores n-bit data."""
  _check_n_bits(n_bits)
  return num_dims * n_bits * math.log(2.0)


def bits_per_dim(neg_log_density: Array, num_dims: int, n_bits: int) -> Array:
  """Converts -log p(y) (nats, y in [0,1)^D) into bits per dimension of n-bit data.

  bpd = (-log p(y) + D * n * log 2) / (D * log 2). A density uniform on the
  unit cube (log p = 0) scores exactly n bits/dim.

  Args:
    neg_log_density: (batch,) negative log-density (or negative ELBO) in nats.
    num_dims: D, the number of sub-pixels per example (H * W * C); a Python int (static
      under jit).
    n_bits: bits per sub-pixel of the discrete data, 1..8; a Python int (static under jit).

  Returns:
    (batch,) bits per dimension.
  """
  return ((neg_log_density + discretization_nats(num_dims, n_bits))
          / (num_dims * math.log(2.0)))
