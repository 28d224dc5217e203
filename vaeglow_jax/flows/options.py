"""What a Glow flow step is built of: one frozen options object, with the one set of defaults,
handed unchanged from GlowLayer / MultiScaleGlow down to the coupling net's convolutions."""

from __future__ import annotations

import dataclasses

COUPLINGS = ('additive', 'affine')
MASKS = ('channel', 'checkerboard')
NET_DTYPES = ('float32', 'bfloat16')


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepOptions:
  """The architecture of one flow step (actnorm -> 1x1 conv -> coupling).

  hidden: the coupling net's width (channels of its 3x3 and 1x1 convolutions).
  coupling: 'additive' y_b = x_b + t(x_a) (logdet 0), or 'affine'
    y_b = (x_b + t(x_a)) * sigmoid(s(x_a) + 2) (Glow's form).
  mask: 'channel' splits the channels in halves (needs C >= 2); 'checkerboard' alternates
    pixels and applies two half-couplings, so it works on 1-channel images without a squeeze.
  lu: the 1x1 convolution in LU form (O(C) log-determinant) instead of a dense matrix.
  conv_impl: how the coupling nets' convolutions are computed (vaeglow_jax.conv; the
    parameters are the same for every choice).
  net_dtype: the coupling nets' compute dtype; 'bfloat16' keeps parameters, shifts, scales
    and log-determinants float32 (flows.CouplingNet).
  """
  hidden: int = 512
  coupling: str = 'additive'
  mask: str = 'channel'
  lu: bool = True
  conv_impl: str = 'auto'
  net_dtype: str = 'float32'

  def __post_init__(self):
    for field, allowed in (('coupling', COUPLINGS), ('mask', MASKS), ('net_dtype', NET_DTYPES)):
      if getattr(self, field) not in allowed:
        raise ValueError(f'{field} must be one of {allowed}, got {getattr(self, field)!r}')
