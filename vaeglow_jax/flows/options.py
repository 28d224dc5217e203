"""What a Glow flow step is built of: one frozen options object, with the one set of defaults,
handed unchanged from GlowLayer / MultiScaleGlow down to the coupling net's convolutions."""

from __future__ import annotations

import dataclasses

from vaeglow_jax.layers.conv import IMPLS

# The fields that take one of a fixed set of values, and those values.
CHOICES = {
    'coupling': ('additive', 'affine'),
    'mask': ('channel', 'checkerboard'),
    'conv_impl': IMPLS,
    'net_dtype': ('float32', 'bfloat16'),
}


def problems(values: dict) -> list[str]:
  """'<field> must be one of (...), got <value>' for each value in `values` (a dict that may
  hold StepOptions fields among other keys, e.g. a model.glow config) outside its CHOICES."""
  return [f'{field} must be one of {allowed}, got {values[field]!r}'
          for field, allowed in CHOICES.items() if field in values and values[field] not in allowed]


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepOptions:
  """The architecture of one flow step (actnorm -> 1x1 conv -> coupling).

  hidden: the coupling net's width (channels of its 3x3 and 1x1 convolutions).
  coupling: 'additive' or 'affine'; mask: 'channel' or 'checkerboard' (flows.Coupling).
  lu: the 1x1 convolution in LU form (O(C) log-determinant) instead of a dense matrix.
  conv_impl: how the coupling nets' convolutions are computed (vaeglow_jax.conv; the
    parameters are the same for every choice).
  net_dtype: the coupling nets' compute dtype; 'bfloat16' keeps parameters, shifts, scales
    and log-determinants float32 (flows.CouplingNet).
  layers: what one step applies, in order: names of flows.registry.LAYERS.
  """
  hidden: int = 512
  coupling: str = 'additive'
  mask: str = 'channel'
  lu: bool = True
  conv_impl: str = 'auto'
  net_dtype: str = 'float32'
  layers: tuple[str, ...] = ('actnorm', 'invconv', 'coupling')

  def __post_init__(self):
    bad = problems(dataclasses.asdict(self))
    if bad:
      raise ValueError('; '.join(bad))
