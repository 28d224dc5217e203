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
from vaeglow_jax import model as model_lib
from vaeglow_jax.glow import GlowLayer, MultiScaleGlow
from vaeglow_jax.model import VAEGlow
from vaeglow_jax.prior import FlowPrior, SecondStageVAE, StandardPrior
from vaeglow_jax.vae import Decoder, Encoder, floor_log_std, raw_for_log_std

PHASES = ('vae', 'glow', 'prior', 'second_stage', 'joint', 'glow_baseline')
GAMMA_UPDATES = ('optimal', 'gradient')


def gamma_config(model_config):
  """model.gamma with its defaults (configs saved before it existed lack it)."""
  defaults = {'update': 'optimal', 'init': 0.0, 'learning_rate': 0.0}
  return {**defaults, **(model_config.get('gamma') or {})}


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
  prior = (FlowPrior(m.prior.num_layers, m.prior.hidden, m.prior.num_hidden,
                     m.prior.get('unroll', 0))
           if m.prior.kind == 'flow' else StandardPrior())
  if m.prior.kind not in ('flow', 'standard'):
    raise ValueError(f"model.prior.kind must be 'flow' or 'standard', got {m.prior.kind!r}.")
  glow = None
  if with_glow:
    glow = GlowLayer(depth=m.glow.depth, hidden=m.glow.hidden, num_squeezes=m.glow.num_squeezes,
                     coupling=m.glow.coupling, mask=m.glow.mask, lu=m.glow.lu, remat=m.glow.remat,
                     identity_init=m.glow.identity_init, unroll=m.glow.get('unroll', 0),
                     conv_impl=m.glow.get('conv_impl', 'auto'),
                     net_dtype=m.glow.get('net_dtype', 'float32'),
                     mixing=m.glow.get('mixing', 'none'))
  return VAEGlow(
      encoder=Encoder(latent_dim=m.latent_dim, num_scales=m.num_scales, base_channels=m.base_channels,
                      fc_dim=m.fc_dim, blocks_per_scale=m.blocks_per_scale, norm=m.norm),
      decoder=Decoder(image_shape, num_scales=m.num_scales, base_channels=m.base_channels,
                      blocks_per_scale=m.blocks_per_scale, norm=m.norm, variance=m.variance,
                      fixed_log_std=m.fixed_log_std, min_log_std=m.min_log_std,
                      log_gamma_init=gamma_config(m)['init']),
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
    self.gamma = gamma_config(m)
    self.second_stage = SecondStageVAE(m.latent_dim, m.second_stage.width, m.second_stage.depth,
                                       log_gamma_init=self.gamma['init'])
    self.baseline = MultiScaleGlow(levels=m.baseline.levels, depth=m.baseline.depth,
                                   hidden=m.baseline.hidden, coupling=m.baseline.coupling,
                                   lu=m.baseline.lu, remat=m.baseline.remat,
                                   unroll=m.baseline.get('unroll', 0),
                                   conv_impl=m.baseline.get('conv_impl', 'auto'),
                                   net_dtype=m.baseline.get('net_dtype', 'float32'))

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
              'latent_kl': terms['kl'], 'latent_mean_sq_err': terms['mean_sq_err']}
    terms = self.vae.apply(variables, x, self.spec.use_glow, rngs={'sample': rng})
    return {'objective': terms['neg_elbo'], **terms}

  def gamma_parameter(self) -> tuple[str, str] | None:
    """(top-level key, term) of the scalar variance this phase trains: the decoder's gamma
    ('mean_sq_err') or the second stage's gamma_z ('latent_mean_sq_err'); None if none."""
    if self.name == 'second_stage':
      return 'second_stage', 'latent_mean_sq_err'
    if 'decoder' in self.spec.trainable and self.vae.decoder.variance == 'gamma':
      return 'decoder', 'mean_sq_err'
    return None

  def set_optimal_gamma(self, params, terms):
    """With model.gamma.update='optimal': the trained log-gamma set to its closed-form
    optimum for the batch just seen, gamma^2 = mean squared error (Rybkin et al. 2021,
    the sigma-VAE; the ELBO's maximiser over a scalar variance for the current decoder).
    It stays a parameter, so bounds and samples use a fixed gamma, not one fitted to the
    data being scored. params: the trainable subtrees; terms: per_example's output."""
    target = self.gamma_parameter()
    if self.gamma['update'] != 'optimal' or target is None:
      return params
    key, term = target
    log_gamma = 0.5 * jnp.log(jnp.mean(jax.lax.stop_gradient(terms[term])))
    if key == 'decoder':  # stored before the decoder's smooth floor: invert it
      log_gamma = raw_for_log_std(log_gamma, self.vae.decoder.min_log_std)
    subtree = {**params[key], 'log_gamma': log_gamma.astype(params[key]['log_gamma'].dtype)}
    return {**params, key: subtree}

  def scalar_stds(self, variables) -> dict[str, float]:
    """The model's scalar standard deviations, after their floors: 'decoder_gamma' (decoder
    variance 'gamma') and 'second_stage_gamma_z' (second-stage phase); {} when it has none."""
    params, out = variables['params'], {}
    if self.vae.decoder.variance == 'gamma' and 'decoder' in params:
      log_gamma = floor_log_std(params['decoder']['log_gamma'], self.vae.decoder.min_log_std)
      out['decoder_gamma'] = float(jnp.exp(log_gamma))
    if 'second_stage' in params:
      log_gamma = self.second_stage.apply({'params': params['second_stage']},
                                          method=SecondStageVAE.floored_log_gamma)
      out['second_stage_gamma_z'] = float(jnp.exp(log_gamma))
    return out

  def log_weights(self, variables, x, rng, num_samples: int):
    """(K, batch) log importance weights log p(x, z_k) - log q(z_k|x) in nats, K = num_samples.

    Their mean over K estimates the ELBO, logsumexp - log K is the IWAE bound
    (>= the mean for the same samples). The second-stage VAE's image bound uses
    its own single-sample log weight in place of log p(z). The Glow baseline's
    density is exact: (1, batch) log p(x) whatever K is.
    """
    if self.name == 'glow_baseline':
      base = {**variables, 'params': variables['params']['baseline']}
      return self.baseline.apply(base, x, method=MultiScaleGlow.log_prob)[None]
    rng_z, rng_u = jax.random.split(rng)
    noise = jax.random.normal(rng_z, (num_samples, x.shape[0], self.vae.encoder.latent_dim))
    log_prior_fn = None
    if self.name == 'second_stage':
      ss = {'params': variables['params']['second_stage']}
      log_prior_fn = lambda z, k: self.second_stage.apply(  # noqa: E731
          ss, z, rngs={'sample': jax.random.fold_in(rng_u, k)}, method=SecondStageVAE.log_weight)
    return model_lib.log_importance_weights(self.vae, self._vae_variables(variables), x, noise,
                                            self.spec.use_glow, log_prior_fn)

  def bits_per_dim(self, neg_log_density):
    return losses.bits_per_dim(neg_log_density, self.num_dims, self.n_bits)

  # Sampling ----------------------------------------------------------------
  def sample(self, variables, rng, num: int, temperature: float):
    """(num, H, W, C) samples in [0, 1] (clipped) from this phase's model."""
    return self.decode_noise(variables, *self.sample_noise(rng, num), temperature)

  def sample_noise(self, rng, num: int):
    """The N(0, I) noise a sample is a function of: (noise_z (num, latent_dim),
    noise_x (num, H, W, C), noise_e (num, latent_dim), the second stage's)."""
    rng_z, rng_x, rng_e = jax.random.split(rng, 3)
    latent_dim = self.vae.encoder.latent_dim
    return (jax.random.normal(rng_z, (num, latent_dim)),
            jax.random.normal(rng_x, (num,) + self.image_shape),
            jax.random.normal(rng_e, (num, latent_dim)))

  def decode_noise(self, variables, noise_z, noise_x, noise_e, temperature: float,
                   with_decoder_mean: bool = False):
    """Deterministic map from noise to (num, H, W, C) images in [0, 1] (clipped).

    The latent of the Glow baseline is noise_x; of the VAE phases noise_z (the
    prior's base noise); noise_x is the pixel noise of the Glow layer.
    with_decoder_mean: also return the VAE decoder mean of the same z (Glow phases).
    """
    if self.name == 'glow_baseline':
      base = {**variables, 'params': variables['params']['baseline']}
      x = self.baseline.apply(base, noise_x, temperature, method=MultiScaleGlow.sample)
      return jnp.clip(x, 0.0, 1.0)
    vae_vars = self._vae_variables(variables)
    if self.name == 'second_stage':
      z = self.second_stage.apply({'params': variables['params']['second_stage']}, noise_z,
                                  noise_e, method=SecondStageVAE.sample)
      mean, _ = self.vae.apply(vae_vars, z, method=VAEGlow.decode)
      return jnp.clip(mean, 0.0, 1.0)
    parts = self.decode_parts(variables, noise_z, noise_x, noise_e, temperature)
    if with_decoder_mean:
      return parts['x'], parts['decoder_mean']
    return parts['x']

  def decode_parts(self, variables, noise_z, noise_x, noise_e, temperature: float) -> dict:
    """{'x': the model's sample} and, for phases with a Glow layer, 'x_tilde' (the decoder
    sample before f^-1) and 'decoder_mean' (the plain VAE sample) of the same noise; each
    (num, H, W, C), clipped to [0, 1]."""
    if self.name in ('glow_baseline', 'second_stage'):
      return {'x': self.decode_noise(variables, noise_z, noise_x, noise_e, temperature)}
    out = self.vae.apply(self._vae_variables(variables), noise_z, noise_x, temperature,
                         self.spec.use_glow, method=VAEGlow.sample)
    keys = ('x', 'x_tilde', 'decoder_mean') if self.spec.use_glow else ('x',)
    return {k: jnp.clip(out[k], 0.0, 1.0) for k in keys}
