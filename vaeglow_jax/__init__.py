"""vaeglow-jax: variational autoencoders with normalizing-flow decoders, in JAX/Flax.

Modules: `losses` (pure loss functions), `flows` (flow blocks), `glow`
(GlowLayer, MultiScaleGlow), `vae` (ResNet encoder/decoder), `prior`
(N(0, I), flow prior, second-stage VAE), `model` (the full model).
"""

__version__ = '0.1.0'
