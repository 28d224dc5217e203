"""vaeglow-jax: variational autoencoders with normalizing-flow decoders, in JAX/Flax.

Layers, imports only downward:
- `models` (and `flows` beside it): the Linen modules and pure losses. Needs only jax, flax,
  optax and numpy; `import vaeglow_jax` loads nothing else.
- `phases`: the phase table. `config`: the schema, checks and history.
- shared: `io` (files at any path, the work directory's layout, checkpoints, storage, metric
  writers), `runtime` (process set-up, several processes, the mesh, the lock, signals,
  failures), `data`, `images`, `timing`, `errors`.
- `training` (train step, loop, trainer) and `evaluation` (bounds, sampling, scores, figures,
  calibration, reports, metrics/); evaluation imports nothing from training. Both use
  TensorFlow datasets, clu and Orbax, and are imported by name.

The model modules keep their short paths: `vaeglow_jax.losses`, `.glow`, `.vae`, `.prior`,
`.model` and `.conv` are modules holding the public names of `vaeglow_jax.models.<name>`
(`.layers.conv`), the same objects; `import vaeglow_jax.losses` works.

Variables: `init` returns {'params': ..., 'constants': ...}; 'constants' holds the fixed
channel permutations of the 1x1 convolutions (LU form), never trained, passed back to every
`apply`. `VAEGlow.init` needs a 'sample' RNG besides 'params' (the reparameterised z);
`model.init(model, rng, x)` splits one key into both.
"""

from vaeglow_jax import conv, flows, glow, losses, model, prior, vae
from vaeglow_jax.flows import StepOptions
from vaeglow_jax.models.glow import GlowLayer, MultiScaleGlow
from vaeglow_jax.models.model import (VAEGlow, elbo_terms, importance_weighted_log_likelihood,
                                      init, log_importance_weights, sample)
from vaeglow_jax.models.prior import FlowPrior, MAFPrior, SecondStageVAE, StandardPrior
from vaeglow_jax.models.vae import Decoder, Encoder

__version__ = '0.2.0'


def load(workdir: str, phase: str | None = None, prior_phase: str = '', num_devices: int = 0):
  """A trained run of `workdir` (local or gs://), ready to sample, encode, decode, reconstruct
  and score: vaeglow_jax.evaluation.trained_run.load (its docstring has the details)."""
  from vaeglow_jax.evaluation import trained_run
  return trained_run.load(workdir, phase, prior_phase, num_devices)


def enable_compilation_cache() -> str | None:
  """Turns on JAX's persistent compilation cache where the commands keep it, so that a second
  program (or a second `load`) on this machine loads its compiled programs instead of compiling
  them: vaeglow_jax.runtime.environment.configure_compilation_cache (VAEGLOW_COMPILATION_CACHE moves or
  disables it). A process setting, so the library never makes it on import. -> the folder or
  None."""
  from vaeglow_jax.runtime import environment
  return environment.configure_compilation_cache()


__all__ = [
    'Decoder', 'Encoder', 'FlowPrior', 'GlowLayer', 'MAFPrior', 'MultiScaleGlow', 'SecondStageVAE',
    'StandardPrior', 'StepOptions', 'VAEGlow', 'elbo_terms', 'enable_compilation_cache', 'flows',
    'glow',
    'importance_weighted_log_likelihood', 'init', 'load', 'log_importance_weights', 'losses',
    'model', 'prior', 'sample', 'vae', '__version__',
]
