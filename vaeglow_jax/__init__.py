"""vaeglow-jax: variational autoencoders with normalizing-flow decoders, in JAX/Flax.

The model library needs only jax, flax, optax and numpy; `import vaeglow_jax` loads nothing
else (the training and evaluation modules, which use TensorFlow datasets, clu and Orbax, are
imported by name: `vaeglow_jax.trainer`, `vaeglow_jax.evaluation`).

Modules: `losses` (pure per-example loss functions), `flows` (flow blocks), `glow`
(GlowLayer, MultiScaleGlow), `vae` (ResNet encoder/decoder), `prior` (N(0, I), flow prior,
second-stage VAE), `model` (the full model and its pure wrappers: init, elbo_terms, sample,
importance_weighted_log_likelihood).

Variables: `init` returns {'params': ..., 'constants': ...}; 'constants' holds the fixed
channel permutations of the 1x1 convolutions (LU form), never trained, passed back to every
`apply`. `VAEGlow.init` needs a 'sample' RNG besides 'params' (the reparameterised z);
`model.init(model, rng, x)` splits one key into both.
"""

from vaeglow_jax import flows, glow, losses, model, prior, vae
from vaeglow_jax.flows import StepOptions
from vaeglow_jax.glow import GlowLayer, MultiScaleGlow
from vaeglow_jax.model import (VAEGlow, elbo_terms, importance_weighted_log_likelihood, init,
                               log_importance_weights, sample)
from vaeglow_jax.prior import FlowPrior, SecondStageVAE, StandardPrior
from vaeglow_jax.vae import Decoder, Encoder

__version__ = '0.2.0'

__all__ = [
    'Decoder', 'Encoder', 'FlowPrior', 'GlowLayer', 'MultiScaleGlow', 'SecondStageVAE',
    'StandardPrior', 'StepOptions', 'VAEGlow', 'elbo_terms', 'flows', 'glow',
    'importance_weighted_log_likelihood', 'init', 'log_importance_weights', 'losses', 'model',
    'prior', 'sample', 'vae', '__version__',
]
