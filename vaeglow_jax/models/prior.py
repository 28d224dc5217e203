"""Latent priors p(z): N(0, I), a RealNVP-style flow, a masked autoregressive flow (MAF), and
the second-stage VAE. `models.build.prior` makes the one `model.prior.kind` names."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax.flows.step import default_unroll
from vaeglow_jax.models import inputs, losses


class StandardPrior(nn.Module):
  """p(z) = N(0, I). Same interface as FlowPrior: identity map, logdet 0."""

  def __call__(self, z: jax.Array, reverse: bool = False):
    """N(0, I): z (batch, d) -> (z, zeros (batch,)) for either direction (the identity flow)."""
    return z, jnp.zeros((z.shape[0],), z.dtype)

  def log_prob(self, z: jax.Array) -> jax.Array:
    """(batch,) log N(z; 0, I) in nats."""
    return losses.standard_normal_log_prob(z)

  def sample(self, noise: jax.Array, temperature: float = 1.0) -> jax.Array:
    """noise: (batch, d) standard normal -> temperature * noise, (batch, d)."""
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
    """z: (batch, d) -> (u, logdet (batch,) nats); reverse=True: u -> z. One affine coupling over
    the two halves of z."""
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
  """One layer of a flow prior under nn.scan: `layer` names its class in _PRIOR_LAYERS (and its
  parameters' key)."""
  hidden: int
  num_hidden: int
  reverse: bool
  layer: str = 'coupling'

  @nn.compact
  def __call__(self, carry, _):
    z, logdet = carry
    y, layer_logdet = _PRIOR_LAYERS[self.layer](self.hidden, self.num_hidden, name=self.layer)(
        z, self.reverse)
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

  layer = 'coupling'  # the kind of each layer (_PRIOR_LAYERS), and the least latent_dim it takes
  min_latent_dim = 2

  @nn.compact
  def __call__(self, z: jax.Array, reverse: bool = False):
    """The flow: z (batch, latent_dim) float32 -> (u, logdet (batch,) nats), log p(z) = N(u; 0, I) +
    logdet (log_prob); reverse=True: u -> z. Half precision is cast to float32."""
    z = inputs.vectors(z, type(self).__name__)
    if z.shape[-1] < self.min_latent_dim:
      raise ValueError(f'{type(self).__name__} needs latent_dim >= {self.min_latent_dim}, got '
                       f'{z.shape[-1]}.')
    stack = nn.scan(_PriorScanBody, variable_axes={'params': 0}, split_rngs={'params': True},
                    length=self.num_layers, reverse=reverse,
                    unroll=self.unroll or default_unroll(self.num_layers))
    (u, logdet), _ = stack(self.hidden, self.num_hidden, reverse, self.layer, name='layers')(
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


# Masked autoregressive flow ------------------------------------------------------------------

def made_masks(dim: int, hidden: int, num_hidden: int) -> tuple[np.ndarray, ...]:
  """The 0/1 masks of a MADE (Germain et al. 2015) on `dim` inputs in their natural order.

  Input i has degree i + 1; hidden unit k of every hidden layer has degree k mod (dim - 1) + 1
  (1 when dim = 1), so each degree below dim is used; a hidden unit of degree d sees the inputs
  of degree <= d, and output j (two per input: shift and log-scale, columns j and dim + j)
  sees only the units of degree < j + 1. Output j thus depends on inputs 0..j-1 alone.
  Returns num_hidden + 1 masks of shapes (dim, hidden), (hidden, hidden)..., (hidden, 2 dim).
  """
  input_degree = np.arange(1, dim + 1)
  hidden_degree = np.arange(hidden) % max(dim - 1, 1) + 1
  masks, previous = [], input_degree
  for _ in range(num_hidden):
    masks.append((hidden_degree[None, :] >= previous[:, None]).astype(np.float32))
    previous = hidden_degree
  output_degree = np.concatenate([input_degree, input_degree])
  masks.append((output_degree[None, :] > previous[:, None]).astype(np.float32))
  return tuple(masks)


def made_apply(params: dict, masks: tuple, z: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The MADE conditioner as a pure function: (batch, dim) -> (shift, log_scale), each
  (batch, dim), with log_scale bounded to (-2, 2) by 2 tanh(./2). params['dense_<i>'] and
  params['out'] hold 'kernel' (in, out) and 'bias' (out,); masks from `made_masks`."""
  h = z
  for i, mask in enumerate(masks[:-1]):
    layer = params[f'dense_{i}']
    h = nn.relu(h @ (layer['kernel'] * mask) + layer['bias'])
  out = h @ (params['out']['kernel'] * masks[-1]) + params['out']['bias']
  dim = z.shape[-1]
  return out[:, :dim], 2.0 * jnp.tanh(out[:, dim:] / 2.0)


class MADE(nn.Module):
  """The parameters of a MADE conditioner: `num_hidden` masked dense layers of width `hidden`
  (LeCun-normal kernels, zero biases) and a zero-initialised output layer, so the flow layer
  it conditions starts as the identity. __call__(dim) returns them as a dict for `made_apply`
  (a pure function, so the sequential inverse can run it inside `jax.lax.fori_loop`)."""
  hidden: int
  num_hidden: int

  @nn.compact
  def __call__(self, dim: int) -> dict:
    """The conditioner for a d-dimensional input: {"shift", "log_scale"} functions of (batch, d) ->
    (batch, d), output i depending on inputs < i only."""
    widths = [dim] + [self.hidden] * self.num_hidden + [2 * dim]
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
      name = 'out' if i == self.num_hidden else f'dense_{i}'
      kernel_init = nn.initializers.zeros if name == 'out' else nn.initializers.lecun_normal()
      params[name] = {'kernel': self.param(f'{name}_kernel', kernel_init, (fan_in, fan_out)),
                      'bias': self.param(f'{name}_bias', nn.initializers.zeros, (fan_out,))}
    return params


class AutoregressiveLayer(nn.Module):
  """One MAF layer (Papamakarios et al. 2017), then a reversal of the coordinates.

  Density direction, one pass: u_i = (z_i - shift_i(z_<i)) exp(-log_scale_i(z_<i)), log-det
  -sum_i log_scale_i. Inverse (sampling): z_i = u_i exp(log_scale_i) + shift_i, which needs
  z_<i first: `dim` passes of the conditioner in a `jax.lax.fori_loop` (after pass k the first
  k coordinates are exact). The reversal makes the next layer's order the opposite one.
  """
  hidden: int = 1024
  num_hidden: int = 2

  @nn.compact
  def __call__(self, z: jax.Array, reverse: bool = False):
    """One MAF layer: z (batch, d) -> (u, logdet (batch,) nats) in one pass; reverse=True: u -> z, d
    sequential passes (a jax.lax loop)."""
    dim = z.shape[-1]
    masks = made_masks(dim, self.hidden, self.num_hidden)
    params = MADE(self.hidden, self.num_hidden, name='made')(dim)
    if not reverse:
      shift, log_scale = made_apply(params, masks, z)
      u = (z - shift) * jnp.exp(-log_scale)
      return u[:, ::-1], -jnp.sum(log_scale, axis=-1)
    u = z[:, ::-1]

    def solve_one_more(_, x):
      shift, log_scale = made_apply(params, masks, x)
      return u * jnp.exp(log_scale) + shift

    x = jax.lax.fori_loop(0, dim, solve_one_more, u)
    _, log_scale = made_apply(params, masks, x)
    return x, jnp.sum(log_scale, axis=-1)


class MAFPrior(FlowPrior):
  """p(z) = N(h(z); 0, I) |det dh/dz| with h a stack of masked autoregressive layers (MAF).

  Same interface and config keys as FlowPrior (`num_layers`, and each MADE conditioner's
  `num_hidden` layers of width `hidden`). log_prob takes one pass per layer; sample takes
  latent_dim sequential passes per layer (a `jax.lax` loop: one compile whatever the
  dimension). MAF rather than IAF: the prior is trained on the density of encoder samples at
  every step, and sampled only for images, so the one-pass direction is the density's.
  Input (batch, latent_dim), latent_dim >= 1.
  """
  layer = 'maf'
  min_latent_dim = 1


_PRIOR_LAYERS = {'coupling': VectorCoupling, 'maf': AutoregressiveLayer}


class _DenseStack(nn.Module):
  width: int
  depth: int

  @nn.compact
  def __call__(self, x):
    """x: (batch, width) -> (batch, width): one residual MLP block."""
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
    """The second stage's encoder and decoder nets and its gamma_z."""
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
    """The second-stage VAE on z: (batch, latent_dim) -> per-example (batch,) nats:
    'log_likelihood', 'kl', 'neg_elbo', and 'mean_sq_err' of z."""
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


# model.prior.kind -> the prior's class; 'flow' is the RealNVP-style coupling flow.
PRIOR_KINDS = {'standard': StandardPrior, 'flow': FlowPrior, 'maf': MAFPrior}
