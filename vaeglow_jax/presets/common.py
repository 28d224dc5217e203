"""Keys every preset has; dataset configs override them."""

import difflib

import ml_collections

from vaeglow_jax import config as config_lib
from vaeglow_jax.errors import UserError


# Every key and its default: the library's schema (vaeglow_jax.config).
base_config = config_lib.defaults


class UnknownPresetError(UserError, ValueError):
  """A preset name a config does not have; the message lists those it has."""


def unknown_preset(preset: str, known: tuple[str, ...]) -> UnknownPresetError:
  """The error for --config=NAME:PRESET with a PRESET not in `known`, with a "did you mean"
  when one is close."""
  close = difflib.get_close_matches(preset, known, n=1)
  hint = f'; did you mean {close[0]!r}?' if close else ';'
  return UnknownPresetError(f'unknown preset {preset!r}{hint} This config has: '
                       f'{", ".join(known)}, e.g. --config=fashion_mnist:quick.')


def apply_cpu_quick(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The 'quick' preset: a model and budget sized for a few minutes on 2 CPU cores.

  lr 5e-4 with clipping: at lr 1e-3 the per-pixel decoder variances made
  Fashion-MNIST training diverge (bits/dim rising after 200 steps).
  """
  c.num_train_steps = 2000
  c.learning_rate = 5e-4
  c.warmup_steps = 100
  c.grad_clip_norm = 100.0
  # The floor must let a pixel that is always 0 reach the dequantisation-bin optimum,
  # log(2^-n / sqrt(12)) = -6.78 at 8 bits (about 0.25 bits); -5 cost 2.1 bits on each such
  # pixel, half of Fashion-MNIST's (tests/models/test_vae.py checks every preset).
  c.model.min_log_std = -7.0
  c.model.base_channels = 16
  c.model.fc_dim = 128
  c.model.prior.num_layers = 4
  c.model.prior.hidden = 128
  c.model.glow.depth = 8
  c.model.glow.hidden = 64
  c.model.second_stage.width = 256
  c.model.baseline.depth = 8
  c.model.baseline.hidden = 64
  return c
