"""What each training phase builds, trains and freezes. The trainer is generic;
a phase is config (`config.phase`).

One class per model family gives init, the per-example loss, the log importance weights and
the map from noise to samples: `VAEPhase` (the VAE, with or without the Glow layer),
`SecondStagePhase` (the two-stage VAE's second stage on the frozen VAE) and
`GlowBaselinePhase` (the multi-scale Glow). `SPECS` maps each phase name to its class, the
top-level parameter keys it trains and those it restores, frozen, from the phase-1
checkpoint: adding a phase is one entry there (and, for a new model family, one class).

Parameters of every phase live in one dict with top-level keys
'encoder', 'decoder', 'prior', 'glow' (VAEGlow), 'second_stage'
(SecondStageVAE) and 'baseline' (MultiScaleGlow).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from vaeglow_jax.models import build as build_lib
from vaeglow_jax.models import losses
from vaeglow_jax.models import model as model_lib
from vaeglow_jax.models.glow import MultiScaleGlow
from vaeglow_jax.models.model import VAEGlow
from vaeglow_jax.models.prior import SecondStageVAE
from vaeglow_jax.models.vae import floor_log_std, raw_for_log_std

# The model families a phase trains (which Phase class builds it).
VAE_MODEL, LATENT_MODEL, PIXEL_FLOW = 'vae_model', 'latent_model', 'pixel_flow'


@dataclasses.dataclass(frozen=True)
class PhaseSpec:
  """Everything that differs between phases; no phase name is switched on outside this table."""
  task: str                       # VAE_MODEL, LATENT_MODEL or PIXEL_FLOW
  trainable: tuple[str, ...]      # top-level parameter keys trained in this phase
  from_stage1: tuple[str, ...]    # keys restored from the `stage1` phase's checkpoint, frozen
  label: str                      # its name in result tables
  stage1: str = ''                # the phase whose checkpoint holds `from_stage1`
  use_glow: bool = False          # whether the VAEGlow carries a Glow layer
  image_bpd: bool = True          # whether its training objective is an image bits/dim
  prior_key: str = ''             # the parameter key of a latent prior other phases can sample from
  # Report seconds per epoch as the mean of this phase's and its stage1's (the paper's Table 4).
  epoch_time_with_stage1: bool = False


_VAE_KEYS = ('encoder', 'decoder', 'prior')
SPECS = {
    'vae': PhaseSpec(VAE_MODEL, _VAE_KEYS, (), 'VAE', prior_key='prior'),
    'prior': PhaseSpec(VAE_MODEL, ('prior',), ('encoder', 'decoder'), 'VAE + post-hoc flow prior',
                       stage1='vae', prior_key='prior'),
    'second_stage': PhaseSpec(LATENT_MODEL, ('second_stage',), _VAE_KEYS, 'two-stage VAE',
                              stage1='vae', image_bpd=False, prior_key='second_stage'),
    'glow': PhaseSpec(VAE_MODEL, ('glow',), _VAE_KEYS, 'VAE + Glow layer (full model)',
                      stage1='vae', use_glow=True, epoch_time_with_stage1=True),
    'joint': PhaseSpec(VAE_MODEL, _VAE_KEYS + ('glow',), (), 'VAE + Glow layer, joint training',
                       use_glow=True, prior_key='prior'),
    'glow_baseline': PhaseSpec(PIXEL_FLOW, ('baseline',), (), 'Glow (multi-scale)'),
}
PHASES = tuple(SPECS)
# Every top-level parameter key some phase trains (also the config groups under `model`).
PARAMETER_KEYS = tuple(dict.fromkeys(k for s in SPECS.values() for k in s.trainable))
# The config groups under `model` that hold flow StepOptions (coupling, mask, conv_impl, ...).
FLOW_GROUPS = ('glow', 'baseline')


def get_spec(phase: str) -> PhaseSpec:
  if phase not in SPECS:
    raise ValueError(f'unknown phase {phase!r}; choose one of {list(SPECS)}.')
  return SPECS[phase]


def build(config, image_shape) -> 'Phase':
  """The Phase object of config.phase for images of image_shape (H, W, C)."""
  task = get_spec(config.phase).task
  return {VAE_MODEL: VAEPhase, LATENT_MODEL: SecondStagePhase,
          PIXEL_FLOW: GlowBaselinePhase}[task](config, image_shape)


# The phases whose checkpoint holds a latent prior another VAE-family phase can sample from.
PRIOR_KEYS = {name: s.prior_key for name, s in SPECS.items() if s.prior_key}
VAE_PHASES = tuple(name for name, s in SPECS.items() if s.task == VAE_MODEL)


def build_chain(config, prior_config, image_shape) -> 'Phase':
  """config.phase's model (its VAE and, for 'glow', its Glow layer) with the latent prior of
  prior_config.phase in place of its own: z from that prior, then the same decoder (and
  Glow layer). Valid when both phases share phase 1 (the caller checks the parameters).
  Its variables: config.phase's, with prior_config.phase's PRIOR_KEYS entry put in."""
  own, other = get_spec(config.phase), get_spec(prior_config.phase)
  if own.task != VAE_MODEL or prior_config.phase not in PRIOR_KEYS:
    raise ValueError(f'phase {config.phase!r} cannot sample from the prior of phase '
                     f'{prior_config.phase!r}: the chain needs a VAE phase ({", ".join(VAE_PHASES)}) '
                     f'and a phase with a latent prior ({", ".join(PRIOR_KEYS)}).')
  chain = config.copy_and_resolve_references()
  with chain.unlocked():
    chain.model.prior = prior_config.model.prior
    chain.model.second_stage = prior_config.model.second_stage
  cls = SecondStagePhase if other.task == LATENT_MODEL else VAEPhase
  return cls(chain, image_shape)


class Phase:
  """What every phase gives the trainer, the evaluation and the figures. Subclasses define
  init, per_example, log_weights and decode_parts; the sampling noise is shared.

  A sample is a deterministic function of three N(0, I) draws (`sample_noise`): noise_z
  (num, latent_dim), noise_x (num, H, W, C) and noise_e (num, latent_dim)."""

  exact_density = False       # log_weights is log p(x) itself, one weight per image
  temperature_matters = False  # whether sampling.temperature changes the samples
  interpolated_noise = 0      # which of sample_noise's draws the interpolation figure walks

  def __init__(self, config, image_shape):
    self.name = config.phase
    self.spec = get_spec(config.phase)
    self.image_shape = tuple(image_shape)
    self.num_dims = math.prod(image_shape)
    self.n_bits = config.data.n_bits
    self.latent_dim = config.model.latent_dim

  def init(self, rng, x):
    """All variables of this phase's model; ActNorm statistics from the batch x."""
    raise NotImplementedError

  def per_example(self, variables, x, rng):
    """Per-example terms (batch,) in nats; 'objective' is what training minimises."""
    raise NotImplementedError

  def log_weights(self, variables, x, rng, num_samples: int):
    """(K, batch) log importance weights in nats, K = num_samples (1 if exact_density)."""
    raise NotImplementedError

  def decode_parts(self, variables, noise_z, noise_x, noise_e, temperature: float) -> dict:
    """{'x': the model's sample, (num, H, W, C) clipped to [0, 1]}, plus, for phases with a
    Glow layer, 'x_tilde' (the decoder sample before f^-1) and 'decoder_mean'."""
    raise NotImplementedError

  # (variables, x (batch, H, W, C) in [0, 1)) -> {'decoder_mean', 'x'}, for phases with an
  # encoder (VAEPhase.reconstruct); None for the others.
  reconstruct = None

  def bits_per_dim(self, neg_log_density):
    return losses.bits_per_dim(neg_log_density, self.num_dims, self.n_bits)

  # Sampling ----------------------------------------------------------------
  def sample(self, variables, rng, num: int, temperature: float):
    """(num, H, W, C) samples in [0, 1] (clipped) from this phase's model."""
    return self.decode_parts(variables, *self.sample_noise(rng, num), temperature)['x']

  def sample_noise(self, rng, num: int):
    """The N(0, I) noise a sample is a function of: (noise_z (num, latent_dim),
    noise_x (num, H, W, C), noise_e (num, latent_dim), the second stage's)."""
    rng_z, rng_x, rng_e = jax.random.split(rng, 3)
    return (jax.random.normal(rng_z, (num, self.latent_dim)),
            jax.random.normal(rng_x, (num,) + self.image_shape),
            jax.random.normal(rng_e, (num, self.latent_dim)))

  # Scalar variances ----------------------------------------------------------
  def gamma_parameter(self) -> tuple[str, str] | None:
    """(top-level key, term) of the scalar variance this phase trains; None if none."""
    return None

  def set_optimal_gamma(self, params, terms):
    """params with the trained scalar variance at its closed-form optimum (VAE phases)."""
    return params

  def scalar_stds(self, variables) -> dict[str, float]:
    """The model's scalar standard deviations after their floors; {} when it has none."""
    return {}


class VAEPhase(Phase):
  """The VAE of phase 1 ('vae', 'prior') and, with the Glow layer, 'glow' and 'joint': the
  objective is the negative ELBO of x (through f when the phase uses the Glow layer)."""

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self.vae = build_lib.vae(config.model, image_shape, self.spec.use_glow)
    self.gamma = dict(config.model.gamma)
    self.temperature_matters = self.spec.use_glow

  def init(self, rng, x):
    rng_p, rng_s, _ = jax.random.split(rng, 3)
    return dict(self.vae.init({'params': rng_p, 'sample': rng_s}, x, self.spec.use_glow))

  def _vae_variables(self, variables):
    params = {k: v for k, v in variables['params'].items() if k != 'second_stage'}
    return {**variables, 'params': params}

  def reconstruct(self, variables, x) -> dict:
    """x (batch, H, W, C) in [0, 1) -> the decoder mean at the posterior mean of z
    ('decoder_mean') and the model's image there at T=0 ('x' = f^-1(decoder mean) through the
    Glow layer; the decoder mean without one), each clipped to [0, 1]."""
    vae, vae_variables = self.vae, self._vae_variables(variables)
    z, _ = vae.apply(vae_variables, x, method=VAEGlow.encode)
    out = vae.apply(vae_variables, z, jnp.zeros_like(x), 0.0, self.spec.use_glow,
                    method=VAEGlow.decode_sample)
    return {k: jnp.clip(out[k], 0.0, 1.0) for k in ('decoder_mean', 'x')}

  def per_example(self, variables, x, rng):
    terms = model_lib.elbo_terms(self.vae, variables, x, rng, self.spec.use_glow)
    return {'objective': terms['neg_elbo'], **terms}

  def log_weights(self, variables, x, rng, num_samples: int):
    """(K, batch) log p(x, z_k) - log q(z_k|x) in nats. Their mean over K estimates the ELBO,
    logsumexp - log K is the IWAE bound (>= the mean for the same samples)."""
    rng_z, rng_u = jax.random.split(rng)
    noise = jax.random.normal(rng_z, (num_samples, x.shape[0], self.latent_dim))
    return model_lib.log_importance_weights(self.vae, self._vae_variables(variables), x, noise,
                                            self.spec.use_glow,
                                            self._latent_log_prior(variables, rng_u))

  def base_residuals(self, variables, x, rng) -> dict:
    """How well the decoder's Gaussian explains x, before and after the Glow layer f, for
    one z ~ q(z|x). Per-example (batch,) means over pixels: 'sq_x' of (x - g_mu(z))^2 and
    'sq_f_x' of (f(x) - g_mu(z))^2 (pixel units), 'normalised_sq_x' and 'normalised_sq_f_x'
    of the same divided by g_sigma(z)^2 (about 1 where the variance is calibrated), and
    'logdet_per_dim', log|det df/dx| / D in nats. Without a Glow layer f is the identity.
    x: (batch, H, W, C) dequantised, in [0, 1)."""
    vae, variables = self.vae, self._vae_variables(variables)
    mean, log_std = vae.apply(variables, x, method=VAEGlow.encode)
    z = mean + jnp.exp(log_std) * jax.random.normal(rng, mean.shape)
    dec_mean, dec_log_std = vae.apply(variables, z, method=VAEGlow.decode)
    f_x, logdet = vae.apply(variables, x, method=VAEGlow.glow_forward)  # x, 0 without a layer
    per_example = lambda a: jnp.mean(a.reshape(a.shape[0], -1), axis=-1)  # noqa: E731
    out = {'logdet_per_dim': logdet / self.num_dims}
    for name, y in (('x', x), ('f_x', f_x)):
      sq = jnp.square(y - dec_mean)
      out[f'sq_{name}'] = per_example(sq)
      out[f'normalised_sq_{name}'] = per_example(sq * jnp.exp(-2.0 * dec_log_std))
    return out

  def _latent_log_prior(self, variables, rng):
    """log p(z) in place of the VAE prior's, as fn(z, k) for sample k; None: the prior's."""
    return None

  def decode_parts(self, variables, noise_z, noise_x, noise_e, temperature: float) -> dict:
    out = self.vae.apply(self._vae_variables(variables), noise_z, noise_x, temperature,
                         self.spec.use_glow, method=VAEGlow.sample)
    keys = ('x', 'x_tilde', 'decoder_mean') if self.spec.use_glow else ('x',)
    return {k: jnp.clip(out[k], 0.0, 1.0) for k in keys}

  def gamma_parameter(self) -> tuple[str, str] | None:
    """The decoder's gamma ('mean_sq_err') when the phase trains a 'gamma' decoder."""
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
    """'decoder_gamma' (decoder variance 'gamma'), after its floor."""
    params, out = variables['params'], {}
    if self.vae.decoder.variance == 'gamma' and 'decoder' in params:
      log_gamma = floor_log_std(params['decoder']['log_gamma'], self.vae.decoder.min_log_std)
      out['decoder_gamma'] = float(jnp.exp(log_gamma))
    return out


class SecondStagePhase(VAEPhase):
  """Dai & Wipf's second stage: a small VAE on the frozen VAE's latent codes, whose samples
  replace the prior's. Its objective is the latent negative ELBO (not an image bound); its
  image bound uses the second stage's single-sample log weight in place of log p(z)."""

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self.second_stage = build_lib.second_stage(config.model)

  def init(self, rng, x):
    variables = super().init(rng, x)
    _, rng_s, rng_2 = jax.random.split(rng, 3)
    z = jnp.zeros((x.shape[0], self.latent_dim), x.dtype)
    ss = self.second_stage.init({'params': rng_2, 'sample': rng_s}, z)
    variables['params'] = {**variables['params'], 'second_stage': ss['params']}
    return variables

  def per_example(self, variables, x, rng):
    rng_z, rng_u = jax.random.split(rng)
    mean, log_std = self.vae.apply(self._vae_variables(variables), x, method=VAEGlow.encode)
    z = jax.lax.stop_gradient(mean + jnp.exp(log_std) * jax.random.normal(rng_z, mean.shape))
    terms = self.second_stage.apply({'params': variables['params']['second_stage']}, z,
                                    rngs={'sample': rng_u})
    return {'objective': terms['neg_elbo'], 'latent_neg_elbo': terms['neg_elbo'],
            'latent_kl': terms['kl'], 'latent_mean_sq_err': terms['mean_sq_err']}

  def _latent_log_prior(self, variables, rng):
    """The second stage's single-sample log weight of z, a fresh draw per sample k."""
    ss = {'params': variables['params']['second_stage']}
    return lambda z, k: self.second_stage.apply(
        ss, z, rngs={'sample': jax.random.fold_in(rng, k)}, method=SecondStageVAE.log_weight)

  def decode_parts(self, variables, noise_z, noise_x, noise_e, temperature: float) -> dict:
    """The second stage's z through the decoder (its mean; through the Glow layer at
    temperature T when the chain has one, see `build_chain`)."""
    z = self.second_stage.apply({'params': variables['params']['second_stage']}, noise_z,
                                noise_e, method=SecondStageVAE.sample)
    if not self.spec.use_glow:
      mean, _ = self.vae.apply(self._vae_variables(variables), z, method=VAEGlow.decode)
      return {'x': jnp.clip(mean, 0.0, 1.0)}
    out = self.vae.apply(self._vae_variables(variables), z, noise_x, temperature, True,
                         method=VAEGlow.decode_sample)
    return {k: jnp.clip(out[k], 0.0, 1.0) for k in ('x', 'x_tilde', 'decoder_mean')}

  def gamma_parameter(self) -> tuple[str, str] | None:
    """The second stage's gamma_z ('latent_mean_sq_err')."""
    return 'second_stage', 'latent_mean_sq_err'

  def scalar_stds(self, variables) -> dict[str, float]:
    """The decoder's gamma (if any) and 'second_stage_gamma_z', after their floors."""
    out = super().scalar_stds(variables)
    if 'second_stage' in variables['params']:
      log_gamma = self.second_stage.apply({'params': variables['params']['second_stage']},
                                          method=SecondStageVAE.floored_log_gamma)
      out['second_stage_gamma_z'] = float(jnp.exp(log_gamma))
    return out


class GlowBaselinePhase(Phase):
  """The multi-scale Glow on pixels: an exact density, -log p(x) is the objective; its latent
  is sample_noise's noise_x."""

  exact_density = True
  temperature_matters = True
  interpolated_noise = 1

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self.baseline = build_lib.glow_baseline(config.model)

  def _apply(self, variables, *args, method):
    return self.baseline.apply({**variables, 'params': variables['params']['baseline']}, *args,
                               method=method)

  def init(self, rng, x):
    rng_p, _, _ = jax.random.split(rng, 3)
    variables = self.baseline.init({'params': rng_p}, x)
    return {**variables, 'params': {'baseline': variables['params']}}

  def per_example(self, variables, x, rng):
    nll = -self._apply(variables, x, method=MultiScaleGlow.log_prob)
    return {'objective': nll, 'neg_elbo': nll}

  def log_weights(self, variables, x, rng, num_samples: int):
    """(1, batch) log p(x), whatever num_samples is."""
    return self._apply(variables, x, method=MultiScaleGlow.log_prob)[None]

  def decode_parts(self, variables, noise_z, noise_x, noise_e, temperature: float) -> dict:
    x = self._apply(variables, noise_x, temperature, method=MultiScaleGlow.sample)
    return {'x': jnp.clip(x, 0.0, 1.0)}
