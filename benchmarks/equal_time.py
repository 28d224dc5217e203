"""How many Glow-baseline steps take the full model's training time (RESULTS.md's budget).

Run: python -m benchmarks.equal_time [--vae_steps=1200] [--glow_steps=500]
Times the three train steps of the fashion_mnist 'quick' config (batch 64) side by side,
alternating in rounds so machine load hits all alike, and prints the medians and
baseline_steps = (vae_steps * t_vae + glow_steps * t_glow) / t_glow_baseline, for the preset's
(affine) baseline and, as baseline_steps_additive, for the additive one the paper used.
"""

from __future__ import annotations

from absl import app, flags

from benchmarks import harness
from experiments import recipes
from vaeglow_jax import data as data_lib

_VAE_STEPS = flags.DEFINE_integer('vae_steps', recipes.DEMO_VAE_STEPS,
                                  'phase-1 steps of the full model')
_GLOW_STEPS = flags.DEFINE_integer('glow_steps', recipes.DEMO_GLOW_STEPS,
                                   'phase-2 steps of the full model')
_ROUNDS = flags.DEFINE_integer('rounds', 4, 'alternation rounds')
_STEPS = flags.DEFINE_integer('steps', 5, 'timed steps per model and round')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')
_PRESET = flags.DEFINE_string('preset', 'quick', "fashion_mnist preset ('test': a smoke run)")


def main(argv):
  del argv
  config = harness.model_config('fashion_mnist', _PRESET.value)
  shape = data_lib.image_shape(config.data)
  benches = {p: harness.StepBench(config, p, shape, config.batch_size)
             for p in ('vae', 'glow', 'glow_baseline')}
  additive = config.copy_and_resolve_references()
  additive.model.baseline.coupling = 'additive'
  benches['glow_baseline_additive'] = harness.StepBench(additive, 'glow_baseline', shape,
                                                        config.batch_size)
  for bench in benches.values():
    bench.step_seconds(1, warmup=2)
  times = harness.alternate(benches, _ROUNDS.value, _STEPS.value, warmup=0)
  median = {p: harness.median(t) for p, t in times.items()}
  full = _VAE_STEPS.value * median['vae'] + _GLOW_STEPS.value * median['glow']
  harness.emit({'benchmark': 'equal_time', 'median_step_seconds': median,
                'full_model_seconds': full,
                'baseline_steps': int(round(full / median['glow_baseline'])),
                'baseline_steps_additive': int(round(full / median['glow_baseline_additive']))},
               _OUT.value)


if __name__ == '__main__':
  app.run(main)
