"""Latent priors: flow prior density and sampling, second-stage VAE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import check_flow, randomize
from vaeglow_jax.flows.checks import jacobian_logdet, to_float64
from vaeglow_jax.models import losses
from vaeglow_jax.models.prior import FlowPrior, SecondStageVAE, StandardPrior

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
