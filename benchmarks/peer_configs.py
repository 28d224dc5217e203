"""The configurations of the normflows peer comparison, shared by benchmarks.peer
and the benchmarks that measure levers against it (no absl flags here, so both can import it)."""

from __future__ import annotations

from benchmarks import harness

CONFIGS = [  # (image_shape HWC, levels, depth, hidden, batch)
    ((32, 32, 3), 3, 8, 128, 16), ((32, 32, 3), 3, 8, 128, 64),
    ((28, 28, 1), 2, 8, 128, 16), ((28, 28, 1), 2, 8, 128, 64),
]
TINY_CONFIGS = [((8, 8, 3), 2, 2, 8, 4), ((8, 8, 1), 2, 2, 8, 4)]
# Our coupling nets in bfloat16 (parameters and log-dets stay float32): the model.baseline
# override of peer --bf16 and of the bf16_nets lever.
BF16_NETS = {'net_dtype': 'bfloat16'}


def ours(shape, levels, depth, hidden, batch, **baseline_overrides):
  """Our multi-scale Glow's train step at a peer configuration: affine coupling, LU 1x1 conv,
  a plain Adam step (no clipping, no warm-up), like the peer's. `baseline_overrides` go to
  model.baseline (e.g. conv_impl)."""
  config = harness.model_config('cifar10', 'quick')
  config.model.baseline.update(levels=levels, depth=depth, hidden=hidden, coupling='affine',
                               lu=True, **baseline_overrides)
  config.grad_clip_norm = 0.0
  config.warmup_steps = 0
  return harness.StepBench(config, 'glow_baseline', shape, batch)
