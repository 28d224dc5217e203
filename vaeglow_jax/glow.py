"""`vaeglow_jax.glow`: the short path of `vaeglow_jax.models.glow` (its public names, the same objects), so
`import vaeglow_jax.glow` works as `from vaeglow_jax import glow` does."""

from vaeglow_jax.models.glow import *  # noqa: F401,F403
