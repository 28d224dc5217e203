"""Seconds per CIFAR-10 epoch: standalone Glow (L=3, K=32, hidden 512, affine) against the
full model as the cifar10 'default' config builds it (ResNet VAE depth 3 + flow prior for
phase 1; Glow layer at full resolution for phase 2), as the paper's Table 4 computes it:
the full model's figure is the average of its two phases.

The paper does not state its Glow layer's width, so the ratio is a trade-off: `--glow_widths`
and `--glow_depths` sweep the Glow layer (phase 2) over a grid and report, for each point,
s/epoch, GFLOP/image, parameters and the ratio. Glow and phase 1 are timed once.

Run: python -m benchmarks.epoch_ratio [--batch=64] [--steps=5] [--glow_widths=64,128,256,512]
     [--glow_depths=16,32] [--out=FILE]   (--preset=test: tiny)
Epoch = 50,000 images / batch steps x the median step time (compilation excluded). The JSON
is rewritten after every model, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import gc
import itertools

from absl import app, flags

from benchmarks import harness

_PRESET = flags.DEFINE_string('preset', 'default', "'default' (the paper's sizes) or 'test'")
_BATCH = flags.DEFINE_integer('batch', 64, 'batch size')
_STEPS = flags.DEFINE_integer('steps', 5, 'timed steps per model (median reported)')
_WIDTHS = flags.DEFINE_list('glow_widths', [], "Glow-layer coupling widths to sweep; empty: the "
                            "config's only")
_DEPTHS = flags.DEFINE_list('glow_depths', [], "Glow-layer depths (K) to sweep; empty: the "
                            "config's only")
_UNROLL = flags.DEFINE_integer('unroll', -1, "flow steps unrolled per loop iteration in every "
                               "flow; -1: the config's (0, all: XLA counts FLOPs only then); 1 "
                               "compiles a K=32 flow many times faster on a GPU")
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')

CIFAR10_TRAIN_IMAGES = 50_000


def _time_phase(config, phase: str, shape, batch: int, steps: int) -> dict:
  bench = harness.StepBench(config, phase, shape, batch)
  seconds = harness.median(bench.step_seconds(steps, warmup=1))
  row = {'median_step_seconds': seconds,
         'seconds_per_epoch': seconds * CIFAR10_TRAIN_IMAGES / batch,
         'flops_per_image': bench.flops() / batch,
         'trainable_parameters': bench.trainable_parameters(),
         'model_parameters': bench.all_parameters(),
         'compile_seconds': bench.compile_seconds}
  if any(config.model[flow].unroll for flow in ('glow', 'baseline', 'prior')):
    row['flops_per_image'] = None  # a rolled loop's body counts once (harness.flops_of)
  print(f'{phase}: {seconds:.3f} s/step (compiled in {bench.compile_seconds:.0f} s)', flush=True)
  return row


def main(argv):
  del argv
  config = harness.model_config('cifar10', _PRESET.value)
  if _PRESET.value == 'default':  # the paper's Glow on CIFAR-10
    config.model.baseline.update(levels=3, depth=32, hidden=512, coupling='affine')
  if _UNROLL.value >= 0:
    for flow in ('glow', 'baseline', 'prior'):
      config.model[flow].unroll = _UNROLL.value
  shape = harness.image_shape_of(config, 'cifar10', _PRESET.value)
  batch = _BATCH.value
  default_point = (config.model.glow.depth, config.model.glow.hidden)
  depths = [int(d) for d in _DEPTHS.value] or [default_point[0]]
  widths = [int(w) for w in _WIDTHS.value] or [default_point[1]]
  # Widest and deepest first: the points that decide the trade-off survive a time limit.
  grid = sorted(itertools.product(depths, widths), reverse=True)
  if default_point not in grid:
    grid.insert(0, default_point)
  result = {'benchmark': 'epoch_ratio', 'preset': _PRESET.value, 'batch': batch,
            'glow_layer_hidden': default_point[1], 'glow_layer_depth': default_point[0],
            'unroll': config.model.glow.unroll,
            'machine': harness.machine(), 'phases': {}, 'sweep': [], 'paper_claim': 3.5}
  phases = result['phases']
  for phase in ('glow_baseline', 'vae'):
    phases[phase] = _time_phase(config, phase, shape, batch, _STEPS.value)
    gc.collect()
  glow_epoch = phases['glow_baseline']['seconds_per_epoch']
  for depth, hidden in grid:
    point = config.copy_and_resolve_references()
    point.model.glow.update(depth=depth, hidden=hidden)
    row = _time_phase(point, 'glow', shape, batch, _STEPS.value)
    gc.collect()
    full = (phases['vae']['seconds_per_epoch'] + row['seconds_per_epoch']) / 2
    result['sweep'].append({'depth': depth, 'hidden': hidden, **row,
                            'full_model_seconds_per_epoch': full, 'ratio': glow_epoch / full})
    if (depth, hidden) == default_point:  # the headline: the config's own Glow layer
      phases['glow'] = row
      result.update(glow_seconds_per_epoch=glow_epoch, full_model_seconds_per_epoch=full,
                    ratio=glow_epoch / full, glow_parameters=phases['glow_baseline']['model_parameters'],
                    full_model_parameters=row['model_parameters'])
    print(f'glow layer K={depth} hidden={hidden}: ratio {glow_epoch / full:.2f}', flush=True)
    harness.write(result, _OUT.value)
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
