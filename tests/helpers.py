"""Numerical helpers shared by the tests."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def to_float64(tree):
  return jax.tree_util.tree_map(
      lambda a: jnp.asarray(a, jnp.float64) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating) else a,
      tree)


def brute_force_logdet(fn, example):
  """log|det J| of fn at one example, J from jax.jacfwd on the flattened input.

  fn maps a batch (1, *shape) to a batch of the same size (any shape).
  Call inside `jax.enable_x64(True)` for a float64 reference.
  """
  shape = example.shape

  def flat(v):
    return fn(v.reshape((1,) + shape)).reshape(-1)

  jac = jax.jit(jax.jacfwd(flat))(example.reshape(-1))
  sign, logabsdet = jnp.linalg.slogdet(jac)
  assert float(sign) != 0.0, 'Jacobian is singular'
  return float(logabsdet)


def check_flow(module, variables, x, logdet_examples=1):
  """Returns (max inversion error, max relative logdet error, max |fwd + rev logdet|).

  Uses float64 for the Jacobian reference; x is (batch, ...).
  """
  apply = jax.jit(module.apply, static_argnames='reverse')
  y, logdet = apply(variables, x)
  x_back, logdet_rev = apply(variables, y, reverse=True)
  inv_err = float(jnp.max(jnp.abs(x_back - x)))
  sym_err = float(jnp.max(jnp.abs(logdet + logdet_rev)))
  rel_errs = []
  with jax.enable_x64(True):
    v64 = to_float64(variables)
    x64 = jnp.asarray(x, jnp.float64)
    for i in range(logdet_examples):
      ref = brute_force_logdet(lambda a: apply(v64, a)[0], x64[i])
      got = float(apply(v64, x64[i:i + 1])[1][0])
      rel_errs.append(abs(got - ref) / max(abs(ref), 1.0))
  return inv_err, max(rel_errs), sym_err


def numpy_rng(seed=0):
  return np.random.default_rng(seed)


def tiny_model(image_shape=(8, 8, 1), variance='diagonal', prior='flow', glow=True, latent_dim=4):
  """A VAEGlow small enough for unit tests (8x8 images, width 8-16)."""
  from vaeglow_jax.glow import GlowLayer
  from vaeglow_jax.model import VAEGlow
  from vaeglow_jax.prior import FlowPrior, StandardPrior
  from vaeglow_jax.vae import Decoder, Encoder
  return VAEGlow(
      encoder=Encoder(latent_dim=latent_dim, num_scales=2, base_channels=8, fc_dim=16),
      decoder=Decoder(image_shape, num_scales=2, base_channels=8, variance=variance),
      prior=FlowPrior(num_layers=2, hidden=16) if prior == 'flow' else StandardPrior(),
      glow=GlowLayer(depth=2, hidden=8, num_squeezes=1 if image_shape[-1] == 1 else 0) if glow else None)
