"""CelebA 64x64 (Dai & Wipf crop [45:173, 25:153], resized); needs TFDS to download it.

'default' follows the paper: ResNet VAE depth 4, latent 128 (Dai & Wipf's
CelebA run), base channels 32, Glow layer K=32, coupling width 512.
"""

from experiments.configs.common import base_config


def get_config(preset: str = 'default'):
  c = base_config()
  c.data.name = 'celeba'
  c.model.num_scales = 4
  c.model.latent_dim = 128
  c.model.glow.hidden = 512
  if preset == 'quick':
    c.num_train_steps = 2000
    c.learning_rate = 1e-3
    c.warmup_steps = 100
    c.model.base_channels = 16
    c.model.fc_dim = 128
    c.model.prior.num_layers = 4
    c.model.prior.hidden = 128
    c.model.glow.depth = 8
    c.model.glow.hidden = 64
  elif preset != 'default':
    raise ValueError(f"unknown preset {preset!r}; use 'default' or 'quick'.")
  return c
