"""CIFAR-10 (32x32x3), the paper's main benchmark; needs TFDS to download it once.

'default' follows the paper: ResNet VAE depth 3, flow prior 16 x 2 x 1024,
Glow layer K=32 at full resolution (3 channels, no squeeze), coupling width 512
(Glow's CIFAR-10 width; the paper does not state its own), temperature 0.5.
"""

from vaeglow_jax.presets.common import apply_cpu_quick, base_config, unknown_preset

PRESETS = ('default', 'quick')


def get_config(preset: str = 'default'):
  c = base_config()
  c.data.name = 'cifar10'
  c.model.num_scales = 3
  c.model.glow.hidden = 512
  c.model.glow.num_squeezes = 0
  if preset == 'quick':
    apply_cpu_quick(c)
    c.model.latent_dim = 32
  elif preset != 'default':
    raise unknown_preset(preset, PRESETS)
  return c
