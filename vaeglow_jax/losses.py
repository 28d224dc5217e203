"""`vaeglow_jax.losses`: the short path of `vaeglow_jax.models.losses` (its public names, the same objects), so
`import vaeglow_jax.losses` works as `from vaeglow_jax import losses` does."""

from vaeglow_jax.models.losses import *  # noqa: F401,F403
