"""The full model: VAE + latent prior + Glow layer on pixel space.

    z ~ p(z),  x_tilde ~ N(g_mu(z), g_sigma(z)^2),  x = f^-1(x_tilde)
    log p(x|z) = log N(f(x); g_mu(z), g_sigma(z)^2) + log|det df/dx|

`VAEGlow` composes the parts as Linen submodules (parameters under the keys
'encoder', 'decoder', 'prior', 'glow', so a phase can freeze a subtree by
name); the functions below are thin pure wrappers over `apply`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vaeglow_jax.models import inputs, losses
from vaeglow_jax.models.glow import GlowLayer
from vaeglow_jax.models.prior import StandardPrior
from vaeglow_jax.models.vae import Decoder, Encoder


class VAEGlow(nn.Module):
  """VAE (encoder, decoder, prior) with an optional Glow layer on top.

  __call__(x, use_glow) returns per-example terms, each (batch,) in nats:
    'recon'          log N(x_tilde; g_mu(z), g_sigma(z)^2), x_tilde = f(x) (or x)
    'logdet'         log|det df/dx| (0 without the Glow layer)
    'log_likelihood' recon + logdet = log p(x|z), single sample z ~ q(z|x)
    'log_prior'      log p(z)
    'log_posterior'  log q(z|x)
    'kl'             KL term of the ELBO: closed form for the N(0, I) prior,
                     single-sample log q - log p for a flow prior
    'neg_elbo'       kl - log_likelihood
    'log_weight'     log p(x|z) + log p(z) - log q(z|x) (importance weight)
    'mean_sq_err'    mean over pixels of (x_tilde - g_mu(z))^2 (its batch mean is the
                     optimal scalar decoder variance gamma^2)
  The reparameterisation noise z = mean + std * noise is `noise` when given
  ((batch, latent_dim) standard normal), else drawn from the 'sample' RNG stream.
  Input x: (batch, H, W, C) dequantised images in [0, 1).
  """
  encoder: Encoder
  decoder: Decoder
  prior: nn.Module
  glow: GlowLayer | None = None

  def encode(self, x):
    """(batch, H, W, C) -> posterior (mean, log_std), each (batch, latent_dim)."""
    return self.encoder(x)

  def decode(self, z):
    """(batch, latent_dim) -> base distribution (mean, log_std), each image-shaped."""
    return self.decoder(z)

  def prior_log_prob(self, z):
    """(batch, latent_dim) -> (batch,) log p(z)."""
    return self.prior.log_prob(z)

  def glow_forward(self, x, reverse: bool = False):
    """x -> (f(x), log|det df/dx|); identity when the model has no Glow layer."""
    if self.glow is None:
      return x, jnp.zeros((x.shape[0],), x.dtype)
    return self.glow(x, reverse)

  def __call__(self, x: jax.Array, use_glow: bool = True,
               noise: jax.Array | None = None) -> dict[str, jax.Array]:
    """The per-example ELBO terms of x: (batch, H, W, C) float32 in [0, 1) (dequantised): a dict of
    (batch,) float32 arrays in nats (keys 'recon', 'logdet', 'log_likelihood', 'log_prior',
    'log_posterior', 'kl', 'neg_elbo', ...); use_glow: score f(x) (the Glow layer) or x; noise:
    the posterior draw's standard normal (batch, latent_dim), else from the 'sample' RNG. Half
    precision is cast to float32; other dtypes and ranks are refused with one line."""
    x = inputs.images(x, 'VAEGlow')
    mean, log_std = self.encoder(x)
    if noise is None:
      noise = jax.random.normal(self.make_rng('sample'), mean.shape)
    z = mean + jnp.exp(log_std) * noise
    dec_mean, dec_log_std = self.decoder(z)
    if use_glow and self.glow is not None:
      x_tilde, logdet = self.glow(x)
    else:
      x_tilde, logdet = x, jnp.zeros((x.shape[0],), x.dtype)
    recon = losses.gaussian_log_prob(x_tilde, dec_mean, dec_log_std)
    log_likelihood = recon + logdet
    log_prior = self.prior.log_prob(z)
    log_posterior = losses.gaussian_log_prob(z, mean, log_std)
    if isinstance(self.prior, StandardPrior):
      kl = losses.kl_diag_gaussian_standard_normal(mean, log_std)
    else:
      kl = log_posterior - log_prior
    return {
        'recon': recon, 'logdet': logdet, 'log_likelihood': log_likelihood,
        'log_prior': log_prior, 'log_posterior': log_posterior, 'kl': kl,
        'neg_elbo': losses.neg_elbo(log_likelihood, kl),
        'log_weight': log_likelihood + log_prior - log_posterior,
        'mean_sq_err': jnp.mean(jnp.square(x_tilde - dec_mean).reshape(x.shape[0], -1), axis=-1),
    }

  def sample(self, noise_z: jax.Array, noise_x: jax.Array, temperature: float = 0.5,
             use_glow: bool = True) -> dict[str, jax.Array]:
    """Draws images from N(0, I) noise.

    z = prior^-1(noise_z); x_tilde = g_mu(z) + T * g_sigma(z) * noise_x;
    x = f^-1(x_tilde). Without a Glow layer (or use_glow=False) x is the
    decoder mean, the usual VAE sample.

    Args:
      noise_z: (batch, latent_dim) standard normal noise.
      noise_x: (batch, H, W, C) standard normal noise.
      temperature: T >= 0 scaling the base noise in the Glow layer (0.5 in the paper).

    Returns:
      dict with 'z', 'decoder_mean' (the plain VAE sample for side-by-side
      figures), 'x_tilde' and 'x' (the model's sample; not clipped).
    """
    return self.decode_sample(self.prior.sample(noise_z), noise_x, temperature, use_glow)

  def decode_sample(self, z: jax.Array, noise_x: jax.Array, temperature: float = 0.5,
                    use_glow: bool = True) -> dict[str, jax.Array]:
    """`sample` from given latents z (batch, latent_dim), e.g. another prior's samples:
    x_tilde = g_mu(z) + T * g_sigma(z) * noise_x, x = f^-1(x_tilde) (the decoder mean
    without a Glow layer). Returns the same dict as `sample`."""
    dec_mean, dec_log_std = self.decoder(z)
    x_tilde = dec_mean + temperature * jnp.exp(dec_log_std) * noise_x
    if use_glow and self.glow is not None:
      x, _ = self.glow(x_tilde, reverse=True)
    else:
      x = dec_mean
    return {'z': z, 'decoder_mean': dec_mean, 'x_tilde': x_tilde, 'x': x}


def init(model: VAEGlow, rng: jax.Array, x: jax.Array) -> dict[str, Any]:
  """Initialises all variables; ActNorm statistics come from the batch x."""
  params_rng, sample_rng = jax.random.split(rng)
  return model.init({'params': params_rng, 'sample': sample_rng}, x, use_glow=True)


def elbo_terms(model: VAEGlow, variables, x, rng, use_glow: bool = True):
  """Per-example ELBO terms (see VAEGlow); pure, jit-able."""
  return model.apply(variables, x, use_glow, rngs={'sample': rng})


def sample(model: VAEGlow, variables, rng, num: int, temperature: float = 0.5,
           use_glow: bool = True):
  """Draws `num` samples; returns VAEGlow.sample's dict."""
  height, width, channels = model.decoder.image_shape
  latent_dim = model.encoder.latent_dim
  rng_z, rng_x = jax.random.split(rng)
  noise_z = jax.random.normal(rng_z, (num, latent_dim))
  noise_x = jax.random.normal(rng_x, (num, height, width, channels))
  return model.apply(variables, noise_z, noise_x, temperature, use_glow, method=VAEGlow.sample)


def log_importance_weights(model: VAEGlow, variables, x, noise, use_glow: bool = True,
                           log_prior_fn=None, chunk: int = 8):
  """(K, batch) log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k = mean + std * noise[k].

  The encoder and the Glow layer f(x) do not depend on z, so they run once;
  only the decoder and the prior run K times (in vectorised chunks of `chunk`).
  noise: (K, batch, latent_dim) standard normal. log_prior_fn(z, k) -> (batch,)
  replaces the model's prior (e.g. a second-stage VAE's stochastic bound).
  """
  mean, log_std = model.apply(variables, x, method=VAEGlow.encode)
  if use_glow:
    x_tilde, logdet = model.apply(variables, x, method=VAEGlow.glow_forward)
  else:
    x_tilde, logdet = x, jnp.zeros((x.shape[0],), x.dtype)

  def one(args):
    k, eps = args
    z = mean + jnp.exp(log_std) * eps
    dec_mean, dec_log_std = model.apply(variables, z, method=VAEGlow.decode)
    if log_prior_fn is None:
      log_prior = model.apply(variables, z, method=VAEGlow.prior_log_prob)
    else:
      log_prior = log_prior_fn(z, k)
    return (losses.gaussian_log_prob(x_tilde, dec_mean, dec_log_std) + logdet + log_prior
            - losses.gaussian_log_prob(z, mean, log_std))

  ks = jnp.arange(noise.shape[0])
  return jax.lax.map(one, (ks, noise), batch_size=min(chunk, noise.shape[0]))


def importance_weighted_log_likelihood(model: VAEGlow, variables, x, rng, num_samples: int,
                                       use_glow: bool = True):
  """(batch,) IWAE bound log (1/K) sum_k p(x, z_k) / q(z_k|x) with K = num_samples."""
  noise = jax.random.normal(rng, (num_samples, x.shape[0], model.encoder.latent_dim))
  return losses.iw_log_likelihood(log_importance_weights(model, variables, x, noise, use_glow))
