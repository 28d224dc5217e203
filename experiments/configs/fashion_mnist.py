"""--config=experiments/configs/fashion_mnist.py[:PRESET]: the config
vaeglow_jax.presets.fashion_mnist."""

from vaeglow_jax.presets.fashion_mnist import get_config  # noqa: F401
