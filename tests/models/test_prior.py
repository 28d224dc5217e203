"""Latent priors: flow prior density and sampling, second-stage VAE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import check_flow, randomize
from vaeglow_jax.flows.checks import jacobian_logdet, to_float64
from vaeglow_jax.models import losses
from vaeglow_jax.models import prior as prior_lib
from vaeglow_jax.models.prior import (AutoregressiveLayer, FlowPrior, MAFPrior, SecondStageVAE,
                                      StandardPrior)

KEY = jax.random.PRNGKey(0)


def _flow_prior(dim=5, layers=4, hidden=16, scale=0.1):
  z = 1.5 * jax.random.normal(KEY, (6, dim))
  module = FlowPrior(num_layers=layers, hidden=hidden)
  return module, randomize(jax.jit(module.init)(KEY, z), scale=scale), z


@pytest.mark.parametrize('dim', [2, 5])
def test_flow_prior_inverts_and_logdet_matches_jacrev(dim):
  module, variables, z = _flow_prior(dim)
  inv_err, rel_err, sym_err = check_flow(module, variables, z, logdet_examples=3)
  assert inv_err < 1e-4 and rel_err < 1e-4 and sym_err < 1e-3, (inv_err, rel_err, sym_err)


def test_flow_prior_default_is_paper_size():
  module = FlowPrior()
  variables = jax.eval_shape(module.init, KEY, jnp.zeros((1, 64)))
  kernels = variables['params']['layers']['coupling']
  assert kernels['dense_0']['kernel'].shape == (16, 32, 1024)
  assert kernels['dense_1']['kernel'].shape == (16, 1024, 1024)


def test_flow_prior_log_prob_is_change_of_variables():
  module, variables, z = _flow_prior(4)
  log_p = module.apply(variables, z, method=FlowPrior.log_prob)
  with jax.enable_x64(True):
    v64 = to_float64(variables)
    for i in range(3):
      zi = jnp.asarray(z[i], jnp.float64)
      u = module.apply(v64, zi[None])[0]
      expected = float(losses.standard_normal_log_prob(u)[0]) + jacobian_logdet(
          lambda a: module.apply(v64, a)[0], zi)
      np.testing.assert_allclose(float(log_p[i]), expected, rtol=1e-5)


def test_flow_prior_density_integrates_to_one_in_2d():
  module, variables, _ = _flow_prior(2, scale=0.2)
  grid = jnp.linspace(-9.0, 9.0, 361)
  zz = jnp.stack(jnp.meshgrid(grid, grid, indexing='ij'), -1).reshape(-1, 2)
  density = jnp.exp(jax.jit(lambda z: module.apply(variables, z, method=FlowPrior.log_prob))(zz))
  cell = float(grid[1] - grid[0]) ** 2
  assert float(jnp.sum(density)) * cell == pytest.approx(1.0, abs=5e-3)


def test_flow_prior_samples_map_back_to_noise():
  module, variables, _ = _flow_prior(6)
  noise = jax.random.normal(jax.random.PRNGKey(3), (8, 6))
  z = module.apply(variables, noise, 0.8, method=FlowPrior.sample)
  u, _ = module.apply(variables, z)
  np.testing.assert_allclose(u, 0.8 * noise, atol=1e-4)


def test_flow_prior_is_identity_at_init_and_rejects_1d():
  z = jax.random.normal(KEY, (3, 4))
  module = FlowPrior(num_layers=2, hidden=8)
  variables = module.init(KEY, z)
  np.testing.assert_allclose(module.apply(variables, z, method=FlowPrior.log_prob),
                             losses.standard_normal_log_prob(z), rtol=1e-6)
  with pytest.raises(ValueError, match='latent_dim >= 2'):
    module.init(KEY, jnp.zeros((2, 1)))


def test_standard_prior():
  z = jax.random.normal(KEY, (3, 4))
  module = StandardPrior()
  np.testing.assert_allclose(module.apply({}, z, method=StandardPrior.log_prob),
                             losses.standard_normal_log_prob(z))
  np.testing.assert_allclose(module.apply({}, z, 0.5, method=StandardPrior.sample), 0.5 * z)


def test_second_stage_vae_terms_and_sampling():
  z = jax.random.normal(KEY, (5, 6))
  module = SecondStageVAE(latent_dim=6, width=16, depth=3)
  variables = module.init({'params': KEY, 'sample': KEY}, z)
  assert variables['params']['encoder_net']['dense_2']['kernel'].shape == (16, 16)
  # Input concatenated before the heads: head input width = width + latent_dim.
  assert variables['params']['enc_mean']['kernel'].shape == (22, 6)
  terms = module.apply(variables, z, rngs={'sample': jax.random.PRNGKey(1)})
  for value in terms.values():
    assert value.shape == (5,)
  np.testing.assert_allclose(terms['neg_elbo'], terms['kl'] - terms['log_likelihood'], rtol=1e-6)
  samples = module.apply(variables, z, jnp.zeros_like(z), method=SecondStageVAE.sample)
  np.testing.assert_allclose(samples, module.apply(variables, z, method=SecondStageVAE.decode), rtol=1e-6)

  def loss(params):
    return jnp.mean(module.apply({'params': params}, z, rngs={'sample': KEY})['neg_elbo'])
  grads = jax.jit(jax.grad(loss))(variables['params'])
  assert float(jnp.abs(grads['log_gamma'])) > 0


# Masked autoregressive flow (MAF) ------------------------------------------------------------

def _maf_layer(dim=5, hidden=12, num_hidden=2, scale=0.3):
  z = jax.random.normal(jax.random.PRNGKey(4), (6, dim))
  module = AutoregressiveLayer(hidden=hidden, num_hidden=num_hidden)
  return module, randomize(module.init(KEY, z), scale=scale), z


def _assert_autoregressive(module, variables, z):
  """The MADE's shift and log-scale for coordinate i depend on z_<i alone (their Jacobian is
  exactly zero on and above the diagonal), and the layer's map z -> u, read in its own order
  (its output reversal undone), has a Jacobian exactly zero above the diagonal whose diagonal
  is exp(-log_scale), at every example of z."""
  dim = z.shape[-1]
  params = prior_lib.MADE(module.hidden, module.num_hidden).apply(
      {'params': variables['params']['made']}, dim)
  masks = prior_lib.made_masks(dim, module.hidden, module.num_hidden)

  def in_order(a):
    return module.apply(variables, a[None])[0][0, ::-1]
  for example in z:
    for head in jax.jacfwd(lambda a: prior_lib.made_apply(params, masks, a[None]))(example):
      on_or_above = np.asarray(head)[0][np.triu_indices(dim)]
      assert np.all(on_or_above == 0.0), 'shift_i or log_scale_i depends on z_j, j >= i'
    jac = np.asarray(jax.jacfwd(in_order)(example))
    above = jac[np.triu_indices(dim, 1)]
    assert np.all(above == 0.0), f'u_i depends on z_j, j > i: {np.abs(above).max()}'
    _, log_scale = prior_lib.made_apply(params, masks, example[None])
    np.testing.assert_allclose(np.diag(jac), np.exp(-log_scale[0]), rtol=1e-6)


@pytest.mark.parametrize('num_hidden', [0, 1, 2])
def test_made_layer_jacobian_is_zero_above_the_diagonal_in_its_order(num_hidden):
  _assert_autoregressive(*_maf_layer(num_hidden=num_hidden))


def test_a_planted_mask_leak_fails_the_autoregressive_check(monkeypatch):
  """One hidden unit that sees the input whose own output it feeds: the check above must fail."""
  clean = prior_lib.made_masks

  def leaky(dim, hidden, num_hidden):
    masks = [m.copy() for m in clean(dim, hidden, num_hidden)]
    unit = 1                                        # hidden degree 2: feeds outputs 2.. (0-based)
    assert masks[0][2, unit] == 0.0                 # input 2 (degree 3) is masked out...
    masks[0][2, unit] = 1.0                         # ...until now: output 2 sees input 2
    return tuple(masks)

  monkeypatch.setattr(prior_lib, 'made_masks', leaky)
  with pytest.raises(AssertionError, match='log_scale_i depends on z_j, j >= i'):
    _assert_autoregressive(*_maf_layer(num_hidden=2))


def test_made_masks_use_every_degree_and_only_lower_ones():
  masks = prior_lib.made_masks(4, 6, 2)
  assert [m.shape for m in masks] == [(4, 6), (6, 6), (6, 8)]
  # The product of the masks says which input reaches which output: strictly lower in both heads.
  reach = masks[0] @ masks[1] @ masks[2]
  for head in (reach[:, :4], reach[:, 4:]):
    assert np.all(np.triu(head.T) == 0) and np.all(head.T[np.tril_indices(4, -1)] > 0)


@pytest.mark.parametrize('dim', [1, 2, 7])
def test_maf_prior_inverts_and_logdet_matches_slogdet(dim):
  z = 1.5 * jax.random.normal(KEY, (6, dim))
  module = MAFPrior(num_layers=3, hidden=16)
  variables = randomize(module.init(KEY, z), scale=0.2)
  inv_err, rel_err, sym_err = check_flow(module, variables, z, logdet_examples=3)
  assert inv_err < 1e-5 and rel_err < 1e-5 and sym_err < 1e-4, (inv_err, rel_err, sym_err)


def test_maf_prior_is_the_identity_at_init_and_differentiable():
  z = jax.random.normal(KEY, (3, 5))
  module = MAFPrior(num_layers=2, hidden=8)
  variables = module.init(KEY, z)
  u, logdet = jax.jit(module.apply)(variables, z)
  np.testing.assert_array_equal(u, z)              # two reversals: the identity
  np.testing.assert_array_equal(logdet, 0.0)
  np.testing.assert_allclose(module.apply(variables, z, 1.0, method=MAFPrior.sample), z)
  variables = randomize(variables, scale=0.2)

  def nll(params, a):
    return -jnp.mean(module.apply({'params': params}, a, method=MAFPrior.log_prob))
  grads = jax.jit(jax.grad(nll))(variables['params'], z)
  flat = jnp.concatenate([g.ravel() for g in jax.tree_util.tree_leaves(grads)])
  assert bool(jnp.all(jnp.isfinite(flat))) and float(jnp.max(jnp.abs(flat))) > 0
  # Through the sequential inverse: jvp against central differences, and grad runs.
  sample = lambda a: module.apply(variables, a, 1.0, method=MAFPrior.sample)  # noqa: E731
  direction = jax.random.normal(jax.random.PRNGKey(2), z.shape)
  _, tangent = jax.jvp(sample, (z,), (direction,))
  eps = 1e-3
  numeric = (sample(z + eps * direction) - sample(z - eps * direction)) / (2 * eps)
  np.testing.assert_allclose(tangent, numeric, atol=2e-3, rtol=2e-3)
  assert bool(jnp.all(jnp.isfinite(jax.grad(lambda a: jnp.sum(sample(a)))(z))))


def test_maf_prior_log_prob_is_change_of_variables_and_integrates_to_one():
  z = jax.random.normal(KEY, (4, 2))
  module = MAFPrior(num_layers=3, hidden=16)
  variables = randomize(module.init(KEY, z), scale=0.2)
  grid = jnp.linspace(-9.0, 9.0, 361)
  zz = jnp.stack(jnp.meshgrid(grid, grid, indexing='ij'), -1).reshape(-1, 2)
  density = jnp.exp(jax.jit(lambda a: module.apply(variables, a, method=MAFPrior.log_prob))(zz))
  assert float(jnp.sum(density)) * float(grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=5e-3)


def test_maf_sampling_is_a_loop_not_unrolled_over_dimensions():
  """The sequential inverse is a jax.lax loop: its program does not grow with latent_dim."""
  def program_size(dim):
    module = MAFPrior(num_layers=2, hidden=16)
    noise = jnp.zeros((3, dim))
    variables = jax.eval_shape(module.init, KEY, noise)
    jaxpr = jax.make_jaxpr(lambda v, a: module.apply(v, a, 1.0, method=MAFPrior.sample))(
        variables, noise)
    return _count_equations(jaxpr.jaxpr)
  assert program_size(4) == program_size(64)


def _count_equations(jaxpr) -> int:
  """Equations of a jaxpr, those of the jaxprs inside its loops and calls included."""
  total = 0
  for eqn in jaxpr.eqns:
    total += 1
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (tuple, list)) else (param,)):
        inner = getattr(sub, 'jaxpr', sub)
        if hasattr(inner, 'eqns'):
          total += _count_equations(inner)
  return total
