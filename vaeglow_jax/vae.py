"""`vaeglow_jax.vae`: the short path of `vaeglow_jax.models.vae` (its public names, the same objects), so
`import vaeglow_jax.vae` works as `from vaeglow_jax import vae` does."""

from vaeglow_jax.models.vae import *  # noqa: F401,F403
