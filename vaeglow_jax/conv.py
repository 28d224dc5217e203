"""`vaeglow_jax.conv`: the short path of `vaeglow_jax.layers.conv` (its public names, the same
objects), so `import vaeglow_jax.conv` works as `from vaeglow_jax import conv` does."""

from vaeglow_jax.layers.conv import *  # noqa: F401,F403
