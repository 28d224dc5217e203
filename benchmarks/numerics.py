"""Measures invertibility and log-determinant errors of every flow block.

Run: python -m benchmarks.numerics [--glow_depth=32] [--prior_layers=16] [--prior_hidden=1024]
[--out=FILE]   (prints one JSON object; about a minute on 2 CPU cores at the defaults)
Float32 forward/inverse; log-determinant reference from jax.jacrev in float64.
"""

from __future__ import annotations

import time

import jax
from absl import app, flags, logging

from benchmarks import harness
from vaeglow_jax.flows import ActNorm, Coupling, FlowStep, InvConv1x1, StepOptions
from vaeglow_jax.flows.checks import flow_errors
from vaeglow_jax.models.glow import GlowLayer, MultiScaleGlow
from vaeglow_jax.models.prior import FlowPrior

_GLOW_DEPTH = flags.DEFINE_integer('glow_depth', 32, 'steps K of the two Glow layers measured '
                                   '(errors accumulate over the steps)')
_PRIOR_LAYERS = flags.DEFINE_integer('prior_layers', 16, 'coupling layers of the flow prior measured')
_PRIOR_HIDDEN = flags.DEFINE_integer('prior_hidden', 1024, 'width of its coupling nets')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')


def _perturb(variables, scale, seed=1):
  """Gives zero-initialised kernels (coupling net outputs) random values of
  scale / sqrt(fan_in), so no block is measured at its identity initialisation."""
  leaves, tree = jax.tree_util.tree_flatten(variables['params'])
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  def perturb(p, k):
    fan_in = p.size // p.shape[-1]  # keeps pre-activations O(scale) at any width
    return p + scale / fan_in ** 0.5 * jax.random.normal(k, p.shape)
  leaves = [perturb(p, k) if p.ndim >= 2 and not p.any() else p for p, k in zip(leaves, keys)]
  return {**variables, 'params': jax.tree_util.tree_unflatten(tree, leaves)}


def main(argv):
  del argv
  depth = _GLOW_DEPTH.value
  layers, hidden = _PRIOR_LAYERS.value, _PRIOR_HIDDEN.value
  key = jax.random.PRNGKey(0)
  images3 = jax.random.uniform(key, (2, 8, 8, 3))
  images1 = jax.random.uniform(key, (2, 8, 8, 1))
  small = jax.random.normal(key, (2, 4, 4, 4))
  cases = {
      'actnorm': (ActNorm(), small),
      'invconv_lu': (InvConv1x1(lu=True), small),
      'invconv_plain': (InvConv1x1(lu=False), small),
      'coupling_additive': (Coupling(options=StepOptions(hidden=8)), small),
      'coupling_affine': (Coupling(options=StepOptions(hidden=8, coupling='affine')), small),
      'coupling_checkerboard_affine': (Coupling(options=StepOptions(hidden=8, coupling='affine', mask='checkerboard')), small),
      'flow_step_affine': (FlowStep(options=StepOptions(hidden=8, coupling='affine')), small),
      f'glow_layer_K{depth}_8x8x3': (GlowLayer(depth=depth, step=StepOptions(hidden=16),
                                               identity_init=False), images3),
      f'glow_layer_K{depth}_8x8x1_squeeze': (GlowLayer(depth=depth, step=StepOptions(hidden=16),
                                                       num_squeezes=1, identity_init=False), images1),
      'multiscale_glow_L2_K2_8x8x3': (MultiScaleGlow(levels=2, depth=2, step=StepOptions(hidden=8, coupling='affine')), images3),
      f'flow_prior_{layers}x{hidden}_dim64': (FlowPrior(num_layers=layers, hidden=hidden),
                                              jax.random.normal(key, (2, 64))),
  }
  results = {}
  for name, (module, x) in cases.items():
    start = time.perf_counter()
    variables = _perturb(jax.jit(module.init)(key, x), 0.5)
    results[name] = flow_errors(module, variables, x)
    logging.info('%s: %.1f s', name, time.perf_counter() - start)
  harness.emit(results, _OUT.value)


if __name__ == '__main__':
  app.run(main)
