"""The keys every preset has: vaeglow_jax.presets.common."""

from vaeglow_jax.presets.common import apply_cpu_quick, base_config  # noqa: F401
