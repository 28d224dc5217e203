"""`vaeglow_jax.prior`: the short path of `vaeglow_jax.models.prior` (its public names, the same objects), so
`import vaeglow_jax.prior` works as `from vaeglow_jax import prior` does."""

from vaeglow_jax.models.prior import *  # noqa: F401,F403
