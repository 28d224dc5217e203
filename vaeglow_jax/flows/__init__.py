"""Flow blocks. Calling convention for all of them:

  y, logdet = module.apply(variables, x, reverse=False)

logdet has shape (batch,) and is log|det dy/dx|; with reverse=True the module
runs its exact inverse and returns the inverse's log-determinant.
"""

from vaeglow_jax.flows.actnorm import ActNorm
from vaeglow_jax.flows.coupling import Coupling, CouplingNet, ZeroConv, checkerboard_mask
from vaeglow_jax.flows.invconv import InvConv1x1
from vaeglow_jax.flows.options import StepOptions
from vaeglow_jax.flows.squeeze import Squeeze, squeeze2d, unsqueeze2d
from vaeglow_jax.flows.step import (MIXINGS, FlowStep, FlowSteps, default_unroll,
                                   mixing_permutations)

__all__ = [
    'ActNorm', 'Coupling', 'CouplingNet', 'ZeroConv', 'checkerboard_mask', 'InvConv1x1',
    'Squeeze', 'squeeze2d', 'unsqueeze2d', 'FlowStep', 'FlowSteps', 'MIXINGS', 'default_unroll',
    'mixing_permutations',
    'StepOptions',
]
