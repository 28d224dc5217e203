"""`vaeglow_jax.model`: the short path of `vaeglow_jax.models.model` (its public names, the same objects), so
`import vaeglow_jax.model` works as `from vaeglow_jax import model` does."""

from vaeglow_jax.models.model import *  # noqa: F401,F403
