"""--config=experiments/configs/mnist.py[:PRESET]: the config
vaeglow_jax.presets.mnist."""

from vaeglow_jax.presets.mnist import get_config  # noqa: F401
