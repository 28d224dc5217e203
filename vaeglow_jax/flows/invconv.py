"""Invertible 1x1 convolution (Kingma & Dhariwal 2018), as a channel matmul."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl


def _random_rotation(key: jax.Array, channels: int) -> jax.Array:
  q, _ = jnp.linalg.qr(jax.random.normal(key, (channels, channels), jnp.float32))
  return q


class InvConv1x1(nn.Module):
  """y[..., i] = sum_j W[i, j] x[..., j] at every position; W is C x C.

  `lu=True` (default) parameterises W = P L (U + diag(sign * exp(log_s))) with a
  fixed permutation P and fixed signs, which makes log|det W| = sum(log_s)
  O(C). P and the signs are not trained but are model state: they live in
  the `constants` collection, so they are checkpointed with the parameters
  and never receive optimizer updates. `lu=False` trains W directly and uses
  slogdet. Both start as a random rotation, or as the identity with
  `identity_init=True`.

  Input: (batch, ..., C). logdet = positions * log|det W| with positions the
  product of the non-batch, non-channel axes.
  """
  lu: bool = True
  identity_init: bool = False

  def _weight(self, channels: int):
    """Returns (W or its LU factors, log|det W|), creating the variables on init."""
    creating = self.is_initializing() and not self.has_variable('params', 'kernel' if not self.lu else 'log_s')
    # Flax also calls init functions (under eval_shape) in `apply` to check
    # shapes, so they must work without a 'params' RNG: any key gives the shapes.
    key = self.make_rng('params') if creating else jax.random.PRNGKey(0)
    initial = ((lambda: jnp.eye(channels, dtype=jnp.float32)) if self.identity_init
               else (lambda: _random_rotation(key, channels)))
    if not self.lu:
      w = self.param('kernel', lambda _: initial())
      return w, jnp.linalg.slogdet(w)[1]

    def factor(index):
      p0, l0, u0 = jsl.lu(initial())
      s0 = jnp.diag(u0)
      return (p0, jnp.tril(l0, -1), jnp.triu(u0, 1), jnp.sign(s0), jnp.log(jnp.abs(s0)))[index]

    perm = self.variable('constants', 'permutation', factor, 0).value
    lower = self.param('lower', lambda _: factor(1))
    upper = self.param('upper', lambda _: factor(2))
    sign = self.variable('constants', 'sign', factor, 3).value
    log_s = self.param('log_s', lambda _: factor(4))
    eye = jnp.eye(channels, dtype=lower.dtype)
    l_mat = jnp.tril(lower, -1) + eye
    u_mat = jnp.triu(upper, 1) + jnp.diag(sign * jnp.exp(log_s))
    return (perm, l_mat, u_mat), jnp.sum(log_s)

  @nn.compact
  def __call__(self, x: jax.Array, reverse: bool = False):
    """x: (batch, H, W, C) float32 -> (y, logdet): y the same shape (x for reverse=True), logdet
    (batch,) float32, log|det dy/dx| in nats summed over H, W, C (a 1x1 convolution: H W log|det
    W|; the inverse returns the inverse's log-det, minus the forward's)."""
    channels = x.shape[-1]
    weight, log_abs_det = self._weight(channels)
    positions = x[0, ..., 0].size
    logdet = positions * log_abs_det * jnp.ones((x.shape[0],), x.dtype)
    if self.lu:
      perm, l_mat, u_mat = weight
      if reverse:
        # W^-1 = U^-1 L^-1 P^T via two triangular solves (exact, no general inverse).
        eye = jnp.eye(channels, dtype=x.dtype)
        l_inv = jsl.solve_triangular(l_mat, eye, lower=True, unit_diagonal=True)
        u_inv = jsl.solve_triangular(u_mat, eye, lower=False)
        w_inv = u_inv @ l_inv @ perm.T
        return x @ w_inv.T, -logdet
      w = perm @ l_mat @ u_mat
      return x @ w.T, logdet
    w = weight
    if reverse:
      return x @ jnp.linalg.inv(w).T, -logdet
    return x @ w.T, logdet
