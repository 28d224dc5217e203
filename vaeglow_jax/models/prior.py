"""Latent priors p(z): N(0, I), a RealNVP-style flow, and the second-stage VAE."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from vaeglow_jax.flows.step import default_unroll
from vaeglow_jax.models import losses


class StandardPrior(nn.Module):
  """p(z) = N(0, I). Same interface as FlowPrior: identity map, logdet 0."""

  def __call__(self, z: jax.Array, reverse: bool = False):
    return z, jnp.zeros((z.shape[0],), z.dtype)

  def log_prob(self, z: jax.Array) -> jax.Array:
    """(batch,) log N(z; 0, I) in nats."""
    return losses.standard_normal_log_prob(z)

  def sample(self, noise: jax.Array, temperature: float = 1.0) -> jax.Array:
    return temperature * noise


class VectorCoupling(nn.Module):
  """Affine coupling on vectors, then a reversal of the coordinates.

  The first half a = z[:, :d//2] conditions the second half b:
  b' = b * exp(s(a)) + t(a), with s bounded to (-2, 2) by 2 tanh(./2) for
  stability; s and t come from `num_hidden` dense layers of width `hidden`
  with ReLU and a zero-initialised output layer (identity at init). Reversing
  the coordinates afterwards alternates which half is transformed.
  """
  hidden: int = 1024
  num_hidden: int = 2

  @nn.compact
  def __call__(self, z: jax.Array, reverse: bool = False):
    dim = z.shape[-1]
    half = dim // 2
    if reverse:
      z = z[:, ::-1]
    a, b = z[:, :half], z[:, half:]
    h = a
    for i in range(self.num_hidden):
      h = nn.relu(nn.Dense(self.hidden, name=f'dense_{i}')(h))
    out = nn.Dense(2 * (dim - half), kernel_init=nn.initializers.zeros, name='out')(h)
    shift, log_scale = out[:, 0::2], 2.0 * jnp.tanh(out[:, 1::2] / 2.0)
    logdet = jnp.sum(log_scale, axis=-1)
    if reverse:
      return jnp.concatenate([a, (b - shift) * jnp.exp(-log_scale)], axis=-1), -logdet
    y = jnp.concatenate([a, b * jnp.exp(log_scale) + shift], axis=-1)
    return y[:, ::-1], logdet


class _PriorScanBody(nn.Module):
  hidden: int
  num_hidden: int
  reverse: bool

  @nn.compact
  def __call__(self, carry, _):
    z, logdet = carry
    y, layer_logdet = VectorCoupling(self.hidden, self.num_hidden, name='coupling')(z, self.reverse)
    return (y, logdet + layer_logdet), None


class FlowPrior(nn.Module):
  """p(z) = N(h(z); 0, I) |det dh/dz| with h a stack of RealNVP couplings.

  Defaults follow the paper: 16 layers, each coupling net two dense layers of
  width 1024 with ReLU. Layers run under `nn.scan` (stacked parameters).

  __call__(z) returns (u = h(z), log|det dh/dz|); reverse=True maps u -> z.
  Input (batch, latent_dim) with latent_dim >= 2.
  """
  num_layers: int = 16
  hidden: int = 1024
  num_hidden: int = 2
  unroll: int = 0  # layers unrolled per loop iteration; 0: flows.default_unroll (by backend)

  @nn.compact
  def __call__(self, z: jax.Array, reverse: bool = False):
    if z.shape[-1] < 2:
      raise ValueError(f'FlowPrior needs latent_dim >= 2, got {z.shape[-1]}.')
    stack = nn.scan(_PriorScanBody, variable_axes={'params': 0}, split_rngs={'params': True},
                    length=self.num_layers, reverse=reverse,
                    unroll=self.unroll or default_unroll(self.num_layers))
    (u, logdet), _ = stack(self.hidden, self.num_hidden, reverse, name='layers')(
        (z, jnp.zeros((z.shape[0],), z.dtype)), None)
    return u, logdet

  def log_prob(self, z: jax.Array) -> jax.Array:
    """(batch,) exact log p(z) in nats."""
    u, logdet = self(z)
    return losses.standard_normal_log_prob(u) + logdet

  def sample(self, noise: jax.Array, temperature: float = 1.0) -> jax.Array:
    """Maps (batch, latent_dim) N(0, I) noise to prior samples z = h^-1(T * noise)."""
    z, _ = self(temperature * noise, reverse=True)
    return z


class _DenseStack(nn.Module):
  width: int
  depth: int

  @nn.compact
  def __call__(self, x):
    h = x
    for i in range(self.depth):
      h = nn.relu(nn.Dense(self.width, name=f'dense_{i}')(h))
    # Dai & Wipf concatenate the input to the last hidden layer before the heads.
    return jnp.concatenate([h, x], axis=-1)


class SecondStageVAE(nn.Module):
  """Dai & Wipf's second-stage VAE on latent codes z (a baseline prior).

  Encoder u|z and decoder z|u are `depth` dense layers of width `width`, with
  the input concatenated before the heads. The decoder is N(f2(u), gamma_z^2 I)
  with one log-gamma_z (init `log_gamma_init`; learned by gradient or set to its
  closed-form optimum by the trainer); u has z's dimension (`latent_dim`)
  and an N(0, I) prior. Sampling: z = f2(u) + gamma_z * eps.

  __call__(z) -> dict of per-example terms (batch,) in nats: 'log_likelihood',
  'kl', 'neg_elbo', and 'mean_sq_err' (mean over dimensions of (z - f2(u))^2, whose batch
  mean is the optimal gamma_z^2). Uses the 'sample' RNG stream for the reparameterisation.
  """
  latent_dim: int
  width: int = 1024
  depth: int = 3
  min_log_gamma: float = -10.0
  log_gamma_init: float = 0.0

  def setup(self):
    self.encoder_net = _DenseStack(self.width, self.depth)
    self.enc_mean = nn.Dense(self.latent_dim)
    self.enc_log_std = nn.Dense(self.latent_dim)
    self.decoder_net = _DenseStack(self.width, self.depth)
    self.dec_mean = nn.Dense(self.latent_dim)
    self.log_gamma = self.param('log_gamma', nn.initializers.constant(self.log_gamma_init), ())

  def floored_log_gamma(self):
    """log gamma_z as used: the parameter, floored at `min_log_gamma`."""
    return jnp.maximum(self.log_gamma, self.min_log_gamma)

  def encode(self, z):
    """(batch, latent_dim) -> posterior (mean, log_std) of u."""
    h = self.encoder_net(z)
    return self.enc_mean(h), self.enc_log_std(h)

  def decode(self, u):
    """(batch, latent_dim) -> decoder mean f2(u)."""
    return self.dec_mean(self.decoder_net(u))

  def __call__(self, z: jax.Array):
    mean, log_std = self.encode(z)
    u = mean + jnp.exp(log_std) * jax.random.normal(self.make_rng('sample'), mean.shape)
    decoded = self.decode(u)
    log_likelihood = losses.gaussian_log_prob(z, decoded, self.floored_log_gamma())
    kl = losses.kl_diag_gaussian_standard_normal(mean, log_std)
    return {'log_likelihood': log_likelihood, 'kl': kl,
            'neg_elbo': losses.neg_elbo(log_likelihood, kl),
            'mean_sq_err': jnp.mean(jnp.square(z - decoded), axis=-1)}

  def log_weight(self, z: jax.Array) -> jax.Array:
    """(batch,) single-sample log p(z|u) + log p(u) - log q(u|z), u ~ q(u|z) ('sample' RNG).

    exp of it is an unbiased estimate of the second stage's marginal p(z), so
    it can stand in for log p(z) in an importance-weighted bound."""
    mean, log_std = self.encode(z)
    u = mean + jnp.exp(log_std) * jax.random.normal(self.make_rng('sample'), mean.shape)
    return (losses.gaussian_log_prob(z, self.decode(u), self.floored_log_gamma())
            + losses.standard_normal_log_prob(u) - losses.gaussian_log_prob(u, mean, log_std))

  def sample(self, noise_u: jax.Array, noise_z: jax.Array, temperature: float = 1.0):
    """z = f2(T * noise_u) + gamma_z * noise_z; both noises (batch, latent_dim)."""
    return self.decode(temperature * noise_u) + jnp.exp(self.floored_log_gamma()) * noise_z
