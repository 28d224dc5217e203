"""The full model: per-example ELBO terms, sampling through f^-1, jit/grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import tiny_model
from vaeglow_jax.models import losses
from vaeglow_jax.models import model as vaeglow

KEY = jax.random.PRNGKey(0)
X = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 1))


@pytest.fixture(scope='module')
def flow_model():
  model = tiny_model()
  return model, jax.jit(lambda k, x: vaeglow.init(model, k, x))(KEY, X)


def test_elbo_terms_are_consistent(flow_model):
  model, variables = flow_model
  terms = vaeglow.elbo_terms(model, variables, X, jax.random.PRNGKey(2))
  for value in terms.values():
    assert value.shape == (4,)
  np.testing.assert_allclose(terms['log_likelihood'], terms['recon'] + terms['logdet'], rtol=1e-6)
  np.testing.assert_allclose(terms['neg_elbo'], terms['kl'] - terms['log_likelihood'], rtol=1e-6)
  # Flow prior: KL is the single-sample log q - log p.
  np.testing.assert_allclose(terms['kl'], terms['log_posterior'] - terms['log_prior'], rtol=1e-5)
  np.testing.assert_allclose(terms['log_weight'], -terms['neg_elbo'], rtol=1e-5)


def test_glow_likelihood_is_base_density_of_f_x_plus_logdet(flow_model):
  model, variables = flow_model
  noise = jax.random.normal(jax.random.PRNGKey(2), (4, 4))
  terms = model.apply(variables, X, True, noise)
  mean, log_std = model.apply(variables, X, method=vaeglow.VAEGlow.encode)
  z = mean + jnp.exp(log_std) * noise
  dec_mean, dec_log_std = model.apply(variables, z, method=vaeglow.VAEGlow.decode)
  x_tilde, logdet = model.apply(variables, X, method=vaeglow.VAEGlow.glow_forward)
  expected = losses.gaussian_log_prob(x_tilde, dec_mean, dec_log_std) + logdet
  np.testing.assert_allclose(terms['log_likelihood'], expected, rtol=1e-5)
  no_glow = model.apply(variables, X, False, noise)
  np.testing.assert_array_equal(no_glow['logdet'], 0.0)
  np.testing.assert_allclose(no_glow['recon'], losses.gaussian_log_prob(X, dec_mean, dec_log_std), rtol=1e-5)


def test_standard_prior_uses_closed_form_kl():
  model = tiny_model(prior='standard', variance='gamma', glow=False)
  variables = vaeglow.init(model, KEY, X)
  assert 'prior' not in variables['params'] and 'glow' not in variables['params']
  terms = vaeglow.elbo_terms(model, variables, X, jax.random.PRNGKey(2))
  mean, log_std = model.apply(variables, X, method=vaeglow.VAEGlow.encode)
  np.testing.assert_allclose(terms['kl'], losses.kl_diag_gaussian_standard_normal(mean, log_std), rtol=1e-6)


def test_sampling_runs_glow_inverse_with_temperature(flow_model):
  model, variables = flow_model
  out = vaeglow.sample(model, variables, jax.random.PRNGKey(3), 5, temperature=0.5)
  assert out['x'].shape == (5, 8, 8, 1) and out['z'].shape == (5, 4)
  x_tilde, _ = model.apply(variables, out['x'], method=vaeglow.VAEGlow.glow_forward)
  np.testing.assert_allclose(x_tilde, out['x_tilde'], atol=1e-4)
  cold = vaeglow.sample(model, variables, jax.random.PRNGKey(3), 5, temperature=0.0)
  np.testing.assert_allclose(cold['x_tilde'], cold['decoder_mean'], atol=1e-6)
  np.testing.assert_allclose(cold['decoder_mean'], out['decoder_mean'], atol=1e-6)  # same z
  plain = vaeglow.sample(model, variables, jax.random.PRNGKey(3), 5, use_glow=False)
  np.testing.assert_allclose(plain['x'], plain['decoder_mean'])


def test_iw_bound_with_one_sample_is_single_sample_elbo(flow_model):
  model, variables = flow_model
  rng = jax.random.PRNGKey(4)
  iw = vaeglow.importance_weighted_log_likelihood(model, variables, X, rng, 1)
  noise = jax.random.normal(rng, (1, X.shape[0], model.encoder.latent_dim))
  direct = model.apply(variables, X, True, noise[0])['log_weight']
  np.testing.assert_allclose(iw, direct, rtol=1e-6)
  many = vaeglow.importance_weighted_log_likelihood(model, variables, X, rng, 8)
  assert bool(jnp.all(many >= jnp.mean(vaeglow.log_importance_weights(
      model, variables, X, jax.random.normal(rng, (8, X.shape[0], model.encoder.latent_dim))), 0) - 1e-5))


def test_full_model_loss_jit_and_grad():
  # fixed/gamma variance differ only inside the decoder (tests/models/test_vae.py).
  model = tiny_model(variance='diagonal', image_shape=(8, 8, 3))
  x = jax.random.uniform(KEY, (2, 8, 8, 3))
  variables = jax.jit(lambda k, x: vaeglow.init(model, k, x))(KEY, x)

  @jax.jit
  def loss(params, rng):
    terms = vaeglow.elbo_terms(model, {**variables, 'params': params}, x, rng)
    return jnp.mean(terms['neg_elbo'])

  value, grads = jax.value_and_grad(loss)(variables['params'], KEY)
  assert bool(jnp.isfinite(value))
  for name in ('encoder', 'decoder', 'prior', 'glow'):
    leaves = jax.tree_util.tree_leaves(grads[name])
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert float(sum(jnp.sum(jnp.abs(g)) for g in leaves)) > 0, name


def test_phase2_starts_at_the_phase1_bound():
  # The Glow layer starts as the identity: with the same z, the bound is unchanged.
  model = tiny_model()
  variables = vaeglow.init(model, KEY, X)
  noise = jax.random.normal(jax.random.PRNGKey(5), (4, 4))
  with_glow = model.apply(variables, X, True, noise)
  without = model.apply(variables, X, False, noise)
  np.testing.assert_array_equal(with_glow['neg_elbo'], without['neg_elbo'])
