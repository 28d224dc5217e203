"""--config=experiments/configs/celeba.py[:PRESET]: the config
vaeglow_jax.presets.celeba."""

from vaeglow_jax.presets.celeba import get_config  # noqa: F401
