"""GlowLayer (the paper's layer) and the multi-scale Glow baseline."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import check_flow, randomize
from vaeglow_jax.models import losses
from vaeglow_jax.flows import StepOptions
from vaeglow_jax.models.glow import GlowLayer, MultiScaleGlow

KEY = jax.random.PRNGKey(0)


def _images(shape, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), shape)


@pytest.mark.parametrize('shape,kwargs', [
    ((2, 8, 8, 3), dict()),
    ((2, 8, 8, 1), dict(num_squeezes=1)),
], ids=['8x8x3', '8x8x1_squeeze'])
def test_glow_layer_depth32_inverts(shape, kwargs):
  x = _images(shape)
  # actnorm + rotations; unroll=1 compiles one step, not 32 (the same numbers as unrolled:
  # tests/flows/test_blocks.py::test_flow_steps_unrolled_and_rolled_share_parameters_and_outputs)
  module = GlowLayer(depth=32, step=StepOptions(hidden=16), identity_init=False, unroll=1, **kwargs)
  variables = jax.jit(module.init)(KEY, x)
  apply = jax.jit(module.apply, static_argnames='reverse')
  y, logdet = apply(variables, x)
  assert y.shape == x.shape and logdet.shape == (shape[0],)
  x_back, logdet_back = apply(variables, y, reverse=True)
  assert float(jnp.max(jnp.abs(x_back - x))) < 1e-4
  np.testing.assert_allclose(logdet_back, -logdet, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize('kwargs,step', [
    (dict(num_squeezes=1), dict()),
    (dict(), dict(mask='checkerboard')),
    (dict(num_squeezes=1), dict(coupling='affine', lu=False)),
    (dict(num_squeezes=1, mixing='shuffle'), dict()),
    (dict(num_squeezes=1, mixing='reverse'), dict(coupling='affine')),
], ids=['squeeze_additive', 'checkerboard', 'affine_plainconv', 'shuffle', 'affine_reverse'])
def test_glow_layer_logdet_matches_jacrev(kwargs, step):
  x = _images((2, 4, 4, 1))
  module = GlowLayer(depth=3, step=StepOptions(hidden=8, **step), **kwargs)
  variables = randomize(jax.jit(module.init)(KEY, x))
  inv_err, rel_err, sym_err = check_flow(module, variables, x)
  assert inv_err < 1e-4 and rel_err < 1e-4 and sym_err < 1e-3, (inv_err, rel_err, sym_err)


def test_glow_layer_is_exactly_the_identity_at_default_init():
  x = _images((4, 8, 8, 1))
  module = GlowLayer(depth=3, num_squeezes=1, step=StepOptions(hidden=8))
  y, logdet = module.apply(jax.jit(module.init)(KEY, x), x)
  np.testing.assert_array_equal(y, x)
  np.testing.assert_array_equal(logdet, 0.0)


@pytest.mark.parametrize('depth,mixing', [(3, 'reverse'), (4, 'reverse'), (3, 'shuffle')])
def test_glow_layer_with_mixing_is_the_identity_at_init(depth, mixing):
  x = _images((2, 4, 4, 6))
  module = GlowLayer(depth=depth, step=StepOptions(hidden=8), mixing=mixing)
  variables = jax.jit(module.init)(KEY, x)
  y, logdet = module.apply(variables, x)
  np.testing.assert_array_equal(y, x)
  np.testing.assert_array_equal(logdet, 0.0)
  np.testing.assert_array_equal(module.apply(variables, x, reverse=True)[0], x)


def _channels_updated_by_each_coupling(mixing, depth=6, channels=6):
  """At init, the set of input channels that step k's coupling changes, for every k: found by
  giving only that coupling a non-zero output (its last bias) and comparing f(x) with x."""
  from flax import traverse_util
  x = _images((1, 3, 3, channels))
  module = GlowLayer(depth=depth, step=StepOptions(hidden=4), mixing=mixing)
  variables = jax.jit(module.init)(KEY, x)
  flat = traverse_util.flatten_dict(variables['params'])
  (bias_path,) = [k for k in flat if 'coupling' in k and 'ZeroConv_0' in k and k[-1] == 'bias']
  forward = jax.jit(lambda params: module.apply({**variables, 'params': params}, x)[0])
  updated = []
  for k in range(depth):
    bias = np.zeros(flat[bias_path].shape, np.float32)
    bias[k] = 1.0
    y = forward(traverse_util.unflatten_dict({**flat, bias_path: jnp.asarray(bias)}))
    changed = np.abs(np.asarray(y - x)).max(axis=(0, 1, 2)) > 0
    updated.append(frozenset(np.flatnonzero(changed)))
  return updated


def test_without_mixing_every_coupling_updates_the_same_channels_at_init():
  updated = _channels_updated_by_each_coupling('none')
  assert len(set(updated)) == 1 and len(updated[0]) == 3  # the stack starts as one coupling


@pytest.mark.parametrize('mixing', ['reverse', 'shuffle'])
def test_with_mixing_couplings_update_different_channels_at_init(mixing):
  updated = _channels_updated_by_each_coupling(mixing)
  assert all(len(u) == 3 for u in updated)  # each still updates one half
  assert len(set(updated)) >= 2
  assert frozenset().union(*updated) == frozenset(range(6))  # every channel is updated by some step
  if mixing == 'shuffle':
    assert len(set(updated)) >= 4  # more than the two halves that 'reverse' alternates


def test_glow_layer_data_init_keeps_volume_but_for_actnorm():
  x = _images((4, 8, 8, 1))
  module = GlowLayer(depth=2, num_squeezes=1, step=StepOptions(hidden=8), identity_init=False)
  variables = jax.jit(module.init)(KEY, x)
  y, logdet = module.apply(variables, x)
  # At init: actnorm normalises (logdet = -sum log std), rotations and couplings
  # preserve volume, so the logdet equals the first actnorm's alone.
  first = variables['params']['flow']['steps']['step']['actnorm']['log_scale']
  second = variables['params']['flow']['steps']['step']['actnorm']['log_scale'][1]
  expected = 16 * (jnp.sum(first[0]) + jnp.sum(second))
  np.testing.assert_allclose(logdet, expected, rtol=1e-5)


@pytest.mark.parametrize('shape,coupling', [((2, 8, 8, 3), 'affine'), ((2, 8, 8, 1), 'additive')])
def test_multiscale_glow_inverts_and_logdet_matches_jacrev(shape, coupling):
  x = _images(shape)
  module = MultiScaleGlow(levels=2, depth=2, step=StepOptions(hidden=8, coupling=coupling))
  variables = randomize(jax.jit(module.init)(KEY, x))
  inv_err, rel_err, sym_err = check_flow(module, variables, x)
  assert inv_err < 1e-4 and rel_err < 1e-4 and sym_err < 1e-3, (inv_err, rel_err, sym_err)


def test_multiscale_glow_log_prob_and_sampling():
  x = _images((3, 8, 8, 3))
  module = MultiScaleGlow(levels=3, depth=2, step=StepOptions(hidden=8, coupling='affine'))
  # Mild perturbation: Glow's exp(3 * logs) output scale amplifies larger ones.
  variables = randomize(jax.jit(module.init)(KEY, x), scale=0.02)
  apply = jax.jit(module.apply, static_argnames='method')  # one program each, not op by op
  eps, logdet = apply(variables, x)
  log_p = apply(variables, x, method=MultiScaleGlow.log_prob)
  # Two compiled programs sum in different orders: float32 rounding, ~1e-6 of |log p| ~ 100.
  np.testing.assert_allclose(log_p, losses.standard_normal_log_prob(eps) + logdet, rtol=1e-5)
  noise = jax.random.normal(KEY, x.shape)
  samples = apply(variables, noise, 0.7, method=MultiScaleGlow.sample)
  eps_back, _ = apply(variables, samples)
  np.testing.assert_allclose(eps_back, 0.7 * noise, atol=1e-4)


def test_multiscale_glow_rejects_indivisible_shape():
  with pytest.raises(ValueError, match='divisible'):
    jax.eval_shape(MultiScaleGlow(levels=3, depth=1, step=StepOptions(hidden=4, coupling='affine')).init,
                   KEY, _images((1, 12, 12, 3)))  # raised while tracing: nothing to run


def test_glow_jit_grad():
  x = _images((2, 8, 8, 3))
  module = MultiScaleGlow(levels=2, depth=2, step=StepOptions(hidden=8, coupling='affine'))
  variables = jax.jit(module.init)(KEY, x)

  def nll(params):
    return -jnp.mean(module.apply({**variables, 'params': params}, x, method=MultiScaleGlow.log_prob))

  grads = jax.jit(jax.grad(nll))(variables['params'])
  # The gradient is the derivative: along a random direction it matches central differences.
  leaves, tree = jax.tree_util.tree_flatten(variables['params'])
  keys = jax.random.split(jax.random.PRNGKey(7), len(leaves))
  direction = jax.tree_util.tree_unflatten(tree, [jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
  step = lambda h: jax.tree_util.tree_map(lambda p, d: p + h * d, variables['params'], direction)  # noqa: E731
  h = 1e-3
  numeric = (nll(step(h)) - nll(step(-h))) / (2 * h)
  analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree_util.tree_leaves(grads),
                                                jax.tree_util.tree_leaves(direction)))
  np.testing.assert_allclose(analytic, numeric, rtol=2e-2)
  assert abs(float(analytic)) > 1e-2  # not a trivially flat direction


def test_bfloat16_coupling_nets_keep_float32_logdets_and_exact_inverse():
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 8, 2)) - 0.5
  make = lambda dtype: GlowLayer(
      depth=2, identity_init=False, step=StepOptions(hidden=16, coupling='affine', net_dtype=dtype))
  variables = randomize(make('float32').init(jax.random.PRNGKey(1), x), scale=0.05)
  y32, ld32 = make('float32').apply(variables, x)
  y16, ld16 = make('bfloat16').apply(variables, x)
  assert y16.dtype == jnp.float32 and ld16.dtype == jnp.float32
  # bf16 nets change the map by about bf16's precision, not more...
  np.testing.assert_allclose(y16, y32, atol=0.05)
  np.testing.assert_allclose(ld16, ld32, rtol=0.05)
  assert float(jnp.max(jnp.abs(y16 - y32))) > 0  # (it did run in bf16)
  # ...and the inverse runs the same bf16 nets, so it is exact to float32 rounding.
  x_back, ld_back = make('bfloat16').apply(variables, y16, reverse=True)
  np.testing.assert_allclose(x_back, x, atol=1e-5)
  np.testing.assert_allclose(ld_back, -ld16, rtol=1e-5, atol=1e-4)
  grads = jax.grad(lambda v: jnp.sum(make('bfloat16').apply(v, x)[1]))(variables)
  assert all(g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))
             for g in jax.tree.leaves(grads['params']))


def test_remat_lowers_the_compiled_gradient_memory():
  """remat must save memory (it needs a rolled loop on XLA:CPU; unroll=0 gives one)."""
  x = jax.random.normal(jax.random.PRNGKey(0), (8, 8, 8, 2))

  def temp_bytes(remat):
    model = GlowLayer(depth=4, step=StepOptions(hidden=64), remat=remat)
    variables = model.init(jax.random.PRNGKey(1), x)
    loss = lambda p: jnp.sum(model.apply({**variables, 'params': p}, x)[0] ** 2)
    compiled = jax.jit(jax.grad(loss)).lower(variables['params']).compile()
    return compiled.memory_analysis().temp_size_in_bytes

  assert temp_bytes(True) < 0.6 * temp_bytes(False)
