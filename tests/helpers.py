"""Helpers shared by the tests."""

from __future__ import annotations

from vaeglow_jax.flows.checks import flow_errors


def check_flow(module, variables, x, logdet_examples=1):
  """(max inversion error, max relative logdet error, max |fwd + rev logdet|)."""
  errors = flow_errors(module, variables, x, logdet_examples)
  return errors['inverse_max_abs'], errors['logdet_max_rel'], errors['reverse_logdet_max_abs']


def tiny_model(image_shape=(8, 8, 1), variance='diagonal', prior='flow', glow=True, latent_dim=4):
  """A VAEGlow small enough for unit tests (8x8 images, width 8-16)."""
  from vaeglow_jax.glow import GlowLayer
  from vaeglow_jax.model import VAEGlow
  from vaeglow_jax.prior import FlowPrior, StandardPrior
  from vaeglow_jax.vae import Decoder, Encoder
  return VAEGlow(
      encoder=Encoder(latent_dim=latent_dim, num_scales=2, base_channels=8, fc_dim=16),
      decoder=Decoder(image_shape, num_scales=2, base_channels=8, variance=variance),
      prior=FlowPrior(num_layers=2, hidden=16) if prior == 'flow' else StandardPrior(),
      glow=GlowLayer(depth=2, hidden=8, num_squeezes=1 if image_shape[-1] == 1 else 0) if glow else None)
