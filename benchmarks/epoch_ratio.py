"""Seconds per CIFAR-10 epoch: standalone Glow (L=3, K=32, hidden 512, affine) against the
full model as the cifar10 'default' config builds it (ResNet VAE depth 3 + flow prior for
phase 1; Glow layer K=32 at full resolution for phase 2), as the paper's Table 4 computes it:
the full model's figure is the average of its two phases.

Run: python -m benchmarks.epoch_ratio [--batch=64] [--steps=5] [--out=FILE]  (--preset=test: tiny)
Epoch = 50,000 images / batch steps x the median step time (compilation excluded).
"""

from __future__ import annotations

from absl import app, flags

from benchmarks import harness

_PRESET = flags.DEFINE_string('preset', 'default', "'default' (the paper's sizes) or 'test'")
_BATCH = flags.DEFINE_integer('batch', 64, 'batch size')
_STEPS = flags.DEFINE_integer('steps', 5, 'timed steps per model (median reported)')
_GLOW_HIDDEN = flags.DEFINE_integer('glow_hidden', 0, "Glow layer coupling width; 0: the config's "
                                    '(the paper does not state its own)')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')

CIFAR10_TRAIN_IMAGES = 50_000


def main(argv):
  del argv
  config = harness.model_config('cifar10', _PRESET.value)
  if _PRESET.value == 'default':  # the paper's Glow on CIFAR-10
    config.model.baseline.update(levels=3, depth=32, hidden=512, coupling='affine')
  if _GLOW_HIDDEN.value:
    config.model.glow.hidden = _GLOW_HIDDEN.value
  shape = harness.image_shape_of(config, 'cifar10', _PRESET.value)
  steps_per_epoch = CIFAR10_TRAIN_IMAGES / _BATCH.value
  models = {}
  for phase in ('glow_baseline', 'vae', 'glow'):
    bench = harness.StepBench(config, phase, shape, _BATCH.value)
    seconds = harness.median(bench.step_seconds(_STEPS.value, warmup=1))
    models[phase] = {'median_step_seconds': seconds, 'seconds_per_epoch': seconds * steps_per_epoch,
                     'flops_per_image': bench.flops() / _BATCH.value,
                     'trainable_parameters': bench.trainable_parameters(),
                     'model_parameters': bench.all_parameters(),
                     'compile_seconds': bench.compile_seconds}
    print(f"{phase}: {seconds:.3f} s/step", flush=True)
  full = (models['vae']['seconds_per_epoch'] + models['glow']['seconds_per_epoch']) / 2
  harness.emit({
      'benchmark': 'epoch_ratio', 'preset': _PRESET.value, 'batch': _BATCH.value,
      'glow_layer_hidden': config.model.glow.hidden,
      'machine': harness.machine(), 'phases': models,
      'glow_seconds_per_epoch': models['glow_baseline']['seconds_per_epoch'],
      'full_model_seconds_per_epoch': full,
      'full_model_parameters': models['glow']['model_parameters'],
      'glow_parameters': models['glow_baseline']['model_parameters'],
      'ratio': models['glow_baseline']['seconds_per_epoch'] / full,
      'paper_claim': 3.5}, _OUT.value)


if __name__ == '__main__':
  app.run(main)
