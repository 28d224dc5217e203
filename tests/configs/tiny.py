"""The tests' configuration: `fashion_mnist:tiny` (the quick preset shrunk to 8x8 images and
models a few hundred parameters wide, so that a test compiles and trains in seconds).

Also a config file: --config=tests/configs/tiny.py (the CLI tests and the scripts' rehearsals use it).
"""

from vaeglow_jax.presets import fashion_mnist


def get_config():
  return fashion_mnist.get_config('tiny')
