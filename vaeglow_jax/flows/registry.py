"""The layers a flow step is built of, by name: StepOptions.layers lists them in order (the
config's model.glow.layers and model.baseline.layers), and FlowStep builds each from here.

A new layer is one module of the flow convention (`y, logdet = layer(x, reverse)`) and one
entry below: a function (options, identity_init, name) -> the Linen module. Its name in a step's
list is also its parameter key, so the default list keeps the parameters of every trained run.
"""

from __future__ import annotations

from vaeglow_jax.flows.actnorm import ActNorm
from vaeglow_jax.flows.coupling import Coupling
from vaeglow_jax.flows.invconv import InvConv1x1

LAYERS = {
    # Data-dependent init unless the step starts as the identity (a flow on a learned base).
    'actnorm': lambda options, identity_init, name: ActNorm(data_init=not identity_init, name=name),
    'invconv': lambda options, identity_init, name: InvConv1x1(
        lu=options.lu, identity_init=identity_init, name=name),
    'coupling': lambda options, identity_init, name: Coupling(options=options, name=name),
}


def problems(layers) -> list[str]:
  """'layers ...' for a list that is empty or names a layer LAYERS lacks."""
  if not layers:
    return ['layers must name at least one flow layer']
  unknown = [name for name in layers if name not in LAYERS]
  return [f'layers: unknown {", ".join(map(repr, unknown))}; choose from {", ".join(LAYERS)}'] \
      if unknown else []


def build(layers, options, identity_init: bool) -> list:
  """The modules of one step, in order; a layer listed twice gets '_2', '_3' in its name."""
  seen: dict[str, int] = {}
  modules = []
  for name in layers:
    seen[name] = seen.get(name, 0) + 1
    modules.append(LAYERS[name](options, identity_init,
                                name if seen[name] == 1 else f'{name}_{seen[name]}'))
  return modules
