"""Numerical self-checks for any module following the flow convention."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def to_float64(tree):
  """Casts every floating leaf to float64 (use inside `jax.enable_x64(True)`)."""
  def cast(a):
    a = jnp.asarray(a)
    return a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a
  return jax.tree_util.tree_map(cast, tree)


def jacobian_logdet(fn, example) -> float:
  """log|det J| of fn at one example, J from `jax.jacrev` on the flattened input
  (either mode works: vaeglow_jax.conv is plain JAX; reverse is cheaper for a square J).

  fn maps a batch (1, *shape) to a batch of the same total size. Call inside
  `jax.enable_x64(True)` with float64 inputs for a precise reference.
  """
  shape = example.shape

  def flat(v):
    return fn(v.reshape((1,) + shape)).reshape(-1)

  jac = jax.jit(jax.jacrev(flat))(example.reshape(-1))
  sign, logabsdet = jnp.linalg.slogdet(jac)
  if float(sign) == 0.0:
    raise ValueError('the Jacobian is singular')
  return float(logabsdet)


def flow_errors(module, variables, x, logdet_examples: int = 1) -> dict[str, float]:
  """Checks `y, logdet = module.apply(variables, x, reverse=...)` numerically.

  Returns:
    'inverse_max_abs': max |f^-1(f(x)) - x| in x's dtype;
    'logdet_max_rel': max over examples of |logdet - log|det J|| / max(|log|det J||, 1)
      with J from jax.jacrev in float64 (the floor of 1 nat avoids dividing by ~0
      for volume-preserving maps);
    'reverse_logdet_max_abs': max |logdet(x) + logdet_reverse(f(x))|.
  """
  apply = jax.jit(module.apply, static_argnames='reverse')
  y, logdet = apply(variables, x)
  x_back, logdet_rev = apply(variables, y, reverse=True)
  rel_errs = []
  with jax.enable_x64(True):
    v64 = to_float64(variables)
    x64 = jnp.asarray(x, jnp.float64)
    for i in range(logdet_examples):
      ref = jacobian_logdet(lambda a: apply(v64, a)[0], x64[i])
      got = float(apply(v64, x64[i:i + 1])[1][0])
      rel_errs.append(abs(got - ref) / max(abs(ref), 1.0))
  return {'inverse_max_abs': float(jnp.max(jnp.abs(x_back - x))),
          'logdet_max_rel': max(rel_errs),
          'reverse_logdet_max_abs': float(jnp.max(jnp.abs(logdet + logdet_rev)))}
