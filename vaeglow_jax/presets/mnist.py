"""MNIST (28x28x1); needs TFDS to download it once (internet)."""

from vaeglow_jax.presets import fashion_mnist


def get_config(preset: str = 'default'):
  c = fashion_mnist.get_config(preset)
  c.data.name = 'mnist'
  return c
