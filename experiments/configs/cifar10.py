"""--config=experiments/configs/cifar10.py[:PRESET]: the config
vaeglow_jax.presets.cifar10."""

from vaeglow_jax.presets.cifar10 import get_config  # noqa: F401
