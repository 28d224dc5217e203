"""The scalar decoder variance reaches its optimum (model.gamma): a toy problem with a known
answer, trained by the library's own optimizer and train step."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.configs import tiny
from vaeglow_jax.runtime import sharding
from vaeglow_jax import phases
from vaeglow_jax.models import losses
from vaeglow_jax.training import train as train_lib
from vaeglow_jax.models.model import VAEGlow
from vaeglow_jax.models.vae import floor_log_std, raw_for_log_std

SHAPE = (8, 8, 1)


def _batch(rng, n=32):
  """Pixels 0.5 + N(0, 0.1^2), quantised to 8 bits: a decoder mean near 0.5 has MSE ~0.01."""
  x = 0.5 + 0.1 * rng.standard_normal((n,) + SHAPE)
  return np.clip(np.round(x * 256 - 0.5), 0, 255).astype(np.uint8)


def _train(phase_name, steps, **gamma):
  config = tiny.get_config()
  config.phase = phase_name
  config.model.variance = 'gamma'
  config.model.prior.kind = 'standard'
  config.model.gamma.update(gamma)
  config.learning_rate, config.warmup_steps = 5e-4, 0
  phase = phases.build(config, SHAPE)
  mesh = sharding.make_mesh(1)
  rng = np.random.default_rng(0)
  x0 = losses.dequantize(jnp.asarray(_batch(rng)), None, 8)
  variables = jax.jit(phase.init)(jax.random.PRNGKey(0), x0)
  tx = train_lib.make_optimizer(config, steps_per_epoch=10_000)
  state = train_lib.create_state(variables, phase.spec.trainable, tx)
  step = train_lib.make_train_step(phase, tx, mesh)
  key = jax.random.PRNGKey(1)
  for _ in range(steps):
    state, _ = step(state, sharding.shard_batch(_batch(rng), mesh), key)
  return phase, state.variables(), rng


def _decoder_mse(phase, variables, rng):
  """E (x - g_mu(z))^2, z ~ q(z|x), on fresh data, from the encoder and decoder directly."""

  @jax.jit  # one compiled program, not every op dispatched (and compiled) on its own
  def squared_errors(images, seed):
    x = losses.dequantize(images, jax.random.PRNGKey(seed), 8)
    mean, log_std = phase.vae.apply(variables, x, method=VAEGlow.encode)
    z = mean + jnp.exp(log_std) * jax.random.normal(jax.random.PRNGKey(seed + 10), mean.shape)
    dec_mean, _ = phase.vae.apply(variables, z, method=VAEGlow.decode)
    return jnp.square(x - dec_mean)

  return float(np.mean([np.mean(squared_errors(jnp.asarray(_batch(rng, 256)), seed))
                        for seed in range(4)]))


@functools.partial(jax.jit, static_argnums=0)
def _neg_elbo_at(phase, variables, log_std):
  """Mean negative ELBO on fresh data with the decoder's log-gamma replaced (after the floor)."""
  params = dict(variables['params'])
  params['decoder'] = {**params['decoder'],
                       'log_gamma': raw_for_log_std(jnp.float32(log_std), phase.vae.decoder.min_log_std)}
  x = losses.dequantize(jnp.asarray(_batch(np.random.default_rng(7), 512)), jax.random.PRNGKey(3), 8)
  terms = phase.vae.apply({**variables, 'params': params}, x, False, rngs={'sample': jax.random.PRNGKey(4)})
  return jnp.mean(terms['neg_elbo'])


@pytest.mark.parametrize('gamma, steps, reaches', [
    ({'update': 'optimal'}, 60, True),
    ({'update': 'gradient', 'learning_rate': 0.1}, 80, True),
    # The old behaviour: the shared lr moves log gamma ~5e-4 per step, nowhere near -2.3.
    ({'update': 'gradient', 'learning_rate': 0.0}, 60, False),
])
def test_decoder_gamma_reaches_the_mse_optimum(gamma, steps, reaches):
  phase, variables, rng = _train('vae', steps, **gamma)
  log_gamma = float(floor_log_std(variables['params']['decoder']['log_gamma'],
                                  phase.vae.decoder.min_log_std))
  optimum = 0.5 * np.log(_decoder_mse(phase, variables, rng))
  assert optimum < -1.5  # the toy problem: far from the initial log gamma = 0
  if not reaches:
    assert abs(log_gamma - optimum) > 1.0, (log_gamma, optimum)
    return
  assert abs(log_gamma - optimum) < 0.1, (log_gamma, optimum)
  # And it is the ELBO's maximiser: moving gamma by 20% either way makes the bound worse.
  best = _neg_elbo_at(phase, variables, log_gamma)
  for shift in (np.log(1.2), -np.log(1.2)):
    assert _neg_elbo_at(phase, variables, log_gamma + shift) > best
  assert phase.scalar_stds(variables)['decoder_gamma'] == pytest.approx(np.exp(log_gamma), rel=1e-5)


def test_second_stage_gamma_z_is_set_to_the_latent_mse():
  # Started at log gamma_z = 2, far from the latent MSE of the (random, frozen) encoder's codes.
  phase, variables, rng = _train('second_stage', 40, update='optimal', init=2.0)
  ss = {'params': variables['params']['second_stage']}
  x = losses.dequantize(jnp.asarray(_batch(rng, 256)), jax.random.PRNGKey(0), 8)
  mean, log_std = phase.vae.apply(variables, x, method=VAEGlow.encode)
  z = mean + jnp.exp(log_std) * jax.random.normal(jax.random.PRNGKey(1), mean.shape)
  u_mean, u_log_std = phase.second_stage.apply(ss, z, method=type(phase.second_stage).encode)
  u = u_mean + jnp.exp(u_log_std) * jax.random.normal(jax.random.PRNGKey(2), u_mean.shape)
  decoded = phase.second_stage.apply(ss, u, method=type(phase.second_stage).decode)
  optimum = 0.5 * np.log(np.mean(np.square(np.asarray(z) - np.asarray(decoded))))
  gamma_z = phase.scalar_stds(variables)['second_stage_gamma_z']
  assert abs(np.log(gamma_z) - optimum) < 0.2, (np.log(gamma_z), optimum)


def test_raw_for_log_std_inverts_the_floor():
  targets = jnp.array([-6.9, -5.0, -2.3, 0.0, 3.0])
  np.testing.assert_allclose(floor_log_std(raw_for_log_std(targets, -7.0), -7.0), targets,
                             rtol=0, atol=1e-5)
  # At or below the floor: just above it, and finite.
  below = floor_log_std(raw_for_log_std(jnp.array([-7.0, -9.0]), -7.0), -7.0)
  assert np.all(np.isfinite(below)) and np.all(np.abs(below + 7.0) < 2e-3)
