"""Loss functions: closed forms, the ELBO bound, bits/dim constants."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from vaeglow_jax.models import losses

KEY = jax.random.PRNGKey(0)


def test_gaussian_log_prob_matches_scipy():
  x = np.random.default_rng(0).normal(size=(3, 2, 2, 2))
  mean = np.random.default_rng(1).normal(size=x.shape)
  log_std = np.random.default_rng(2).normal(size=x.shape) * 0.3
  got = losses.gaussian_log_prob(jnp.asarray(x), jnp.asarray(mean), jnp.asarray(log_std))
  expected = stats.norm.logpdf(x, mean, np.exp(log_std)).reshape(3, -1).sum(-1)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # Broadcasting a scalar log-std (the gamma mode).
  got_scalar = losses.gaussian_log_prob(jnp.asarray(x), jnp.asarray(mean), jnp.float32(-0.5))
  expected_scalar = stats.norm.logpdf(x, mean, math.exp(-0.5)).reshape(3, -1).sum(-1)
  np.testing.assert_allclose(got_scalar, expected_scalar, rtol=1e-5)


def test_kl_closed_form_matches_monte_carlo():
  mean = jnp.array([[0.5, -1.0, 0.2]])
  log_std = jnp.array([[-0.3, 0.4, 0.0]])
  closed = losses.kl_diag_gaussian_standard_normal(mean, log_std)
  z = mean + jnp.exp(log_std) * jax.random.normal(KEY, (200_000, 3))
  mc = losses.kl_single_sample(z, jnp.broadcast_to(mean, z.shape), jnp.broadcast_to(log_std, z.shape),
                               losses.standard_normal_log_prob)
  np.testing.assert_allclose(float(closed[0]), float(jnp.mean(mc)), rtol=0.02)
  np.testing.assert_allclose(losses.kl_diag_gaussian_standard_normal(jnp.zeros((2, 4)), jnp.zeros((2, 4))), 0.0)


def _linear_gaussian(seed=0, x_dim=5, z_dim=3, noise_std=0.4):
  """x = W z + b + noise_std * e, z ~ N(0, I); W has orthogonal columns so the
  exact posterior is a diagonal Gaussian."""
  rng = np.random.default_rng(seed)
  q, _ = np.linalg.qr(rng.normal(size=(x_dim, x_dim)))
  w = q[:, :z_dim] * np.array([2.0, 1.0, 0.5])
  b = rng.normal(size=x_dim)
  cov_x = w @ w.T + noise_std ** 2 * np.eye(x_dim)
  post_var = 1.0 / (1.0 + np.sum(w ** 2, axis=0) / noise_std ** 2)  # diagonal
  return w, b, noise_std, cov_x, post_var


def _elbo_samples(x, w, b, noise_std, q_mean, q_log_std, num, key):
  eps = jax.random.normal(key, (num, w.shape[1]))
  z = q_mean + jnp.exp(q_log_std) * eps
  x_mean = z @ w.T + b
  log_lik = losses.gaussian_log_prob(jnp.broadcast_to(x, x_mean.shape), x_mean, jnp.log(noise_std))
  kl = losses.kl_diag_gaussian_standard_normal(jnp.broadcast_to(q_mean, z.shape),
                                               jnp.broadcast_to(q_log_std, z.shape))
  return -losses.neg_elbo(log_lik, kl)


def test_elbo_is_a_lower_bound_and_tight_for_exact_posterior():
  with jax.enable_x64(True):
    w, b, noise_std, cov_x, post_var = _linear_gaussian()
    x = np.random.default_rng(3).multivariate_normal(b, cov_x)
    log_px = stats.multivariate_normal(b, cov_x).logpdf(x)
    w, b, x = jnp.asarray(w), jnp.asarray(b), jnp.asarray(x)
    post_mean = jnp.asarray(post_var) * (w.T @ (x - b)) / noise_std ** 2
    exact_log_std = 0.5 * jnp.log(jnp.asarray(post_var))
    # Exact posterior: every single-sample ELBO with the closed-form KL averages to log p(x);
    # with the single-sample KL, log p(x, z) - log q(z|x) = log p(x) for every sample.
    elbo = _elbo_samples(x, w, b, noise_std, post_mean, exact_log_std, 100_000, KEY)
    np.testing.assert_allclose(float(jnp.mean(elbo)), log_px, atol=5e-3)
    z = post_mean + jnp.exp(exact_log_std) * jax.random.normal(KEY, (10, 3))
    log_joint = (losses.gaussian_log_prob(jnp.broadcast_to(x, (10, 5)), z @ w.T + b, jnp.log(noise_std))
                 - losses.kl_single_sample(z, jnp.broadcast_to(post_mean, z.shape),
                                           jnp.broadcast_to(exact_log_std, z.shape),
                                           losses.standard_normal_log_prob))
    np.testing.assert_allclose(log_joint, log_px, atol=1e-8)
    # Any other diagonal posterior gives a strictly smaller expected ELBO.
    for shift, scale in [(0.3, 0.0), (0.0, 0.5), (-0.2, -0.4)]:
      elbo = _elbo_samples(x, w, b, noise_std, post_mean + shift, exact_log_std + scale, 100_000, KEY)
      assert float(jnp.mean(elbo)) < log_px - 1e-3


def test_iw_bound_k1_is_elbo_and_grows_with_k():
  log_w = jax.random.normal(KEY, (64, 5))
  np.testing.assert_allclose(losses.iw_log_likelihood(log_w[:1]), log_w[0], rtol=1e-6)
  assert bool(jnp.all(losses.iw_log_likelihood(log_w) >= jnp.mean(log_w, axis=0)))


@pytest.mark.parametrize('n_bits', [1, 3, 5, 8])
def test_uniform_model_scores_exactly_n_bits_per_dim(n_bits):
  # A density uniform on [0,1)^D has log p(y) = 0 for every dequantised image.
  images = jax.random.randint(KEY, (4, 3, 3, 2), 0, 256).astype(jnp.uint8)
  y = losses.dequantize(images, KEY, n_bits)
  assert float(y.min()) >= 0.0 and float(y.max()) < 1.0
  neg_log_density = jnp.zeros((4,))
  np.testing.assert_allclose(losses.bits_per_dim(neg_log_density, 18, n_bits), float(n_bits), rtol=1e-6)


def test_discrete_uniform_likelihood_in_bits():
  # Exact discrete check: P(k) = 2^-(nD) for a uniform model over n-bit values.
  n_bits, dims = 5, 12
  nll_nats = dims * n_bits * math.log(2.0)
  assert losses.discretization_nats(dims, n_bits) == pytest.approx(nll_nats)
  # A density uniform on [0,1)^D (-log p = 0) scores exactly n bits/dim, at any D and n.
  for d, n in ((dims, n_bits), (784, 8), (3072, 3)):
    np.testing.assert_allclose(losses.bits_per_dim(jnp.zeros((2,)), d, n), n, rtol=1e-6)


def test_dequantize_levels_and_centres():
  images = jnp.array([[0, 7, 8, 255]], jnp.uint8)
  np.testing.assert_array_equal(losses.quantize(images, 5), [[0, 0, 1, 31]])
  np.testing.assert_allclose(losses.dequantize(images, None, 5), (np.array([[0, 0, 1, 31]]) + 0.5) / 32)
  np.testing.assert_allclose(losses.dequantize(images, None, 8), (np.array([[0, 7, 8, 255]]) + 0.5) / 256)
  with pytest.raises(ValueError, match='n_bits'):
    losses.dequantize(images, None, 9)


def test_losses_jit_and_grad():
  def f(mean, log_std):
    z = mean + jnp.exp(log_std)
    kl = losses.kl_single_sample(z, mean, log_std, losses.standard_normal_log_prob)
    ll = losses.gaussian_log_prob(z, mean * 2, log_std)
    return jnp.sum(losses.bits_per_dim(losses.neg_elbo(ll, kl), 4, 8))
  mean, log_std = jnp.linspace(-1.0, 1.0, 8).reshape(2, 4), jnp.linspace(-0.5, 0.3, 8).reshape(2, 4)
  grads = jax.jit(jax.grad(f, argnums=(0, 1)))(mean, log_std)
  # Each partial derivative against a central difference (the losses are smooth).
  h = 1e-2
  for argnum, grad in enumerate(grads):
    for index in ((0, 0), (1, 3)):
      args = [mean, log_std]
      plus, minus = list(args), list(args)
      plus[argnum] = args[argnum].at[index].add(h)
      minus[argnum] = args[argnum].at[index].add(-h)
      numeric = (f(*plus) - f(*minus)) / (2 * h)
      np.testing.assert_allclose(grad[index], numeric, rtol=1e-2, atol=1e-4)
  # And one closed form: d/d mean of the reconstruction term only is -(z - 2 mean) * 2 / std^2,
  # here with z - 2 mean = std - mean: checks the sign and scale, not just finiteness.
  def recon(mean):
    z = mean + jnp.exp(log_std)
    return jnp.sum(losses.gaussian_log_prob(z, mean * 2, log_std))
  std = jnp.exp(log_std)
  np.testing.assert_allclose(jax.grad(recon)(mean), -(std - mean) * (1 - 2) / std ** 2, rtol=1e-5)
