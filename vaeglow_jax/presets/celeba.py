"""CelebA 64x64 (Dai & Wipf crop [45:173, 25:153], resized); needs TFDS to download it.

'default' follows the paper: ResNet VAE depth 4, latent 128 (Dai & Wipf's
CelebA run), base channels 32, Glow layer K=32, coupling width 512.
"""

from vaeglow_jax.presets.common import apply_cpu_quick, base_config, unknown_preset

PRESETS = ('default', 'quick')


def get_config(preset: str = 'default'):
  c = base_config()
  c.data.name = 'celeba'
  c.model.num_scales = 4
  c.model.latent_dim = 128
  c.model.glow.hidden = 512
  if preset == 'quick':
    apply_cpu_quick(c)
  elif preset != 'default':
    raise unknown_preset(preset, PRESETS)
  return c
