"""--config=experiments/configs/from_workdir.py[:PRESET]: the config
vaeglow_jax.presets.from_workdir."""

from vaeglow_jax.presets.from_workdir import get_config  # noqa: F401
