"""What each training phase builds, trains and freezes. The trainer is generic;
a phase is config (`config.phase`).

Parameters of every phase live in one dict with top-level keys
'encoder', 'decoder', 'prior', 'glow' (VAEGlow), 'second_stage'
(SecondStageVAE) and 'baseline' (MultiScaleGlow); a phase trains some keys,
restores others from the phase-1 checkpoint and freezes them.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from vaeglow_jax import losses
from vaeglow_jax.glow import GlowLayer, MultiScaleGlow
from vaeglow_jax.model import VAEGlow
from vaeglow_jax.prior import FlowPrior, SecondStageVAE, StandardPrior
from vaeglow_jax.vae import Decoder, Encoder

PHASES = ('vae', 'glow', 'prior', 'second_stage', 'joint', 'glow_baseline')


@dataclasses.dataclass(frozen=True)
class PhaseSpec:
  trainable: tuple[str, ...]      # top-level parameter keys trained in this phase
  from_stage1: tuple[str, ...]    # keys restored from the phase-1 ('vae') checkpoint, frozen
  use_glow: bool                  # whether the VAEGlow carries a Glow layer


SPECS = {
    'vae': PhaseSpec(('encoder', 'decoder', 'prior'), (), False),
    'glow': PhaseSpec(('glow',), ('encoder', 'decoder', 'prior'), True),
    'prior': PhaseSpec(('prior',), ('encoder', 'decoder'), False),
    'second_stage': PhaseSpec(('second_stage',), ('encoder', 'decoder', 'prior'), False),
    'joint': PhaseSpec(('encoder', 'decoder', 'prior', 'glow'), (), True),
    'glow_baseline': PhaseSpec(('baseline',), (), False),
}


def get_spec(phase: str) -> PhaseSpec:
  if phase not in SPECS:
    raise ValueError(f'unknown phase {phase!r}; choose one of {list(SPECS)}.')
  return SPECS[phase]


def build_vae(model_config, image_shape, with_glow: bool) -> VAEGlow:
  m = model_config
  prior = (FlowPrior(m.prior.num_layers, m.prior.hidden, m.prior.num_hidden)
           if m.prior.kind == 'flow' else StandardPrior())
  if m.prior.kind not in ('flow', 'standard'):
    raise ValueError(f"model.prior.kind must be 'flow' or 'standard', got {m.prior.kind!r}.")
  glow = None
  if with_glow:
    glow = GlowLayer(depth=m.glow.depth, hidden=m.glow.hidden, num_squeezes=m.glow.num_squeezes,
                     coupling=m.glow.coupling, mask=m.glow.mask, lu=m.glow.lu, remat=m.glow.remat,
                     identity_init=m.glow.identity_init)
  return VAEGlow(
      encoder=Encoder(latent_dim=m.latent_dim, num_scales=m.num_scales, base_channels=m.base_channels,
                      fc_dim=m.fc_dim, blocks_per_scale=m.blocks_per_scale, norm=m.norm),
      decoder=Decoder(image_shape, num_scales=m.num_scales, base_channels=m.base_channels,
                      blocks_per_scale=m.blocks_per_scale, norm=m.norm, variance=m.variance,
                      fixed_log_std=m.fixed_log_std, min_log_std=m.min_log_std),
      prior=prior, glow=glow)


class Phase:
  """Builds the modules of `config.phase` and gives init, loss and sampling."""

  def __init__(self, config, image_shape):
    self.name = config.phase
    self.spec = get_spec(config.phase)
    self.image_shape = tuple(image_shape)
    self.num_dims = math.prod(image_shape)
    self.n_bits = config.data.n_bits
    m = config.model
    self.vae = build_vae(m, image_shape, self.spec.use_glow)
    self.second_stage = SecondStageVAE(m.latent_dim, m.second_stage.width, m.second_stage.depth)
    self.baseline = MultiScaleGlow(levels=m.baseline.levels, depth=m.baseline.depth,
                                   hidden=m.baseline.hidden, coupling=m.baseline.coupling,
                                   lu=m.baseline.lu, remat=m.baseline.remat)

  # Variables ---------------------------------------------------------------
  def init(self, rng, x):
    """All variables of this phase's model; ActNorm statistics from the batch x."""
    rng_p, rng_s, rng_2 = jax.random.split(rng, 3)
    if self.name == 'glow_baseline':
      variables = self.baseline.init({'params': rng_p}, x)
      return {**variables, 'params': {'baseline': variables['params']}}
    variables = self.vae.init({'params': rng_p, 'sample': rng_s}, x, self.spec.use_glow)
    variables = dict(variables)
    if self.name == 'second_stage':
      z = jnp.zeros((x.shape[0], self.vae.encoder.latent_dim), x.dtype)
      ss = self.second_stage.init({'params': rng_2, 'sample': rng_s}, z)
      variables['params'] = {**variables['params'], 'second_stage': ss['params']}
    return variables

  def _vae_variables(self, variables):
    params = {k: v for k, v in variables['params'].items() if k != 'second_stage'}
    return {**variables, 'params': params}

  # Loss --------------------------------------------------------------------
  def per_example(self, variables, x, rng):
    """Per-example terms (batch,) in nats; 'objective' is what training minimises
    (the negative ELBO, or -log p for the Glow baseline)."""
    if self.name == 'glow_baseline':
      base = {**variables, 'params': variables['params']['baseline']}
      nll = -self.baseline.apply(base, x, method=MultiScaleGlow.log_prob)
      return {'objective': nll, 'neg_elbo': nll}
    if self.name == 'second_stage':
      rng_z, rng_u = jax.random.split(rng)
      vae_vars = self._vae_variables(variables)
      mean, log_std = self.vae.apply(vae_vars, x, method=VAEGlow.encode)
      z = jax.lax.stop_gradient(mean + jnp.exp(log_std) * jax.random.normal(rng_z, mean.shape))
      terms = self.second_stage.apply({'params': variables['params']['second_stage']}, z,
                                      rngs={'sample': rng_u})
      return {'objective': terms['neg_elbo'], 'latent_neg_elbo': terms['neg_elbo'],
              'latent_kl': terms['kl']}
    terms = self.vae.apply(variables, x, self.spec.use_glow, rngs={'sample': rng})
    return {'objective': terms['neg_elbo'], **terms}

  def bits_per_dim(self, neg_log_density):
    return losses.bits_per_dim(neg_log_density, self.num_dims, self.n_bits)

  # Sampling ----------------------------------------------------------------
  def sample(self, variables, rng, num: int, temperature: float):
    """(num, H, W, C) samples in [0, 1] (clipped) from this phase's model."""
    rng_z, rng_x, rng_e = jax.random.split(rng, 3)
    noise_x = jax.random.normal(rng_x, (num,) + self.image_shape)
    if self.name == 'glow_baseline':
      base = {**variables, 'params': variables['params']['baseline']}
      x = self.baseline.apply(base, noise_x, temperature, method=MultiScaleGlow.sample)
      return jnp.clip(x, 0.0, 1.0)
    latent_dim = self.vae.encoder.latent_dim
    noise_z = jax.random.normal(rng_z, (num, latent_dim))
    vae_vars = self._vae_variables(variables)
    if self.name == 'second_stage':
      noise_e = jax.random.normal(rng_e, (num, latent_dim))
      z = self.second_stage.apply({'params': variables['params']['second_stage']}, noise_z,
                                  noise_e, method=SecondStageVAE.sample)
      mean, _ = self.vae.apply(vae_vars, z, method=VAEGlow.decode)
      return jnp.clip(mean, 0.0, 1.0)
    out = self.vae.apply(vae_vars, noise_z, noise_x, temperature, self.spec.use_glow,
                         method=VAEGlow.sample)
    return jnp.clip(out['x'], 0.0, 1.0)
