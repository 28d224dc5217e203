"""First-step compile seconds of every phase's train step, rolled and unrolled, with the step
time of each: the numbers behind the per-backend `unroll` default (flows.default_unroll).

Run: python -m benchmarks.compile_time [--sizes=fashion_mnist:quick,cifar10:default,celeba:default]
         [--phases=vae,glow,...] [--steps=3] [--out=FILE]
Per size (dataset:preset; 'test' is the tests' tiny config), phase and flow form: 'rolled' sets
every flow's unroll to 1 (one step compiled, run in a loop), 'unrolled' to its depth (all K
steps inlined). Reports the trace-and-lower seconds and XLA's compile seconds of the phase's
jitted train step (the trainer's own), and the median step seconds of `steps` steps after
compilation; from the unrolled form, XLA's FLOPs per image (the paper-run projection in
BENCHMARKS.md uses them). The persistent compilation cache is off, so every compile is a real one.
Rows are written after each one (a paper-size unrolled flow compiles for minutes).
"""

from __future__ import annotations

import time

import jax
from absl import app, flags

from benchmarks import harness
from vaeglow_jax import phases

_SIZES = flags.DEFINE_list('sizes', ['fashion_mnist:quick', 'cifar10:default', 'celeba:default'],
                           'dataset:preset pairs')
_PHASES = flags.DEFINE_list('phases', list(phases.SPECS), 'phases to compile')
_FORMS = flags.DEFINE_list('forms', ['rolled', 'unrolled'], "'rolled' (unroll=1), 'unrolled'")
_BATCH_QUICK = flags.DEFINE_integer('batch_quick', 64, 'batch of the quick and test sizes')
_BATCH_PAPER = flags.DEFINE_integer('batch_paper', 8, 'batch of the paper (default) sizes on '
                                    'CPU; compile seconds barely depend on it')
_STEPS = flags.DEFINE_integer('steps', 3, 'timed steps after compilation (median reported)')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')
_FLOPS_ONLY = flags.DEFINE_bool('flops_only', False, 'only trace and lower each step and read '
                                "XLA's FLOPs of the unoptimised program (no compile, no step)")


def with_unroll(config, form: str):
  """config with every flow's unroll set for `form`: 1 (rolled) or its depth (unrolled)."""
  config = config.copy_and_resolve_references()
  m = config.model
  for group, depth in ((m.prior, m.prior.num_layers), (m.glow, m.glow.depth),
                       (m.baseline, m.baseline.depth)):
    group.unroll = 1 if form == 'rolled' else depth
  return config


def main(argv):
  del argv
  jax.config.update('jax_enable_compilation_cache', False)
  rows = []
  result = {'benchmark': 'compile_time', 'machine': harness.machine(), 'steps': _STEPS.value,
            'results': rows}
  for size in _SIZES.value:
    dataset, preset = size.split(':')
    base = harness.model_config(dataset, preset)
    shape = harness.image_shape_of(base, dataset, preset)
    batch = _BATCH_PAPER.value if preset == 'default' else _BATCH_QUICK.value
    for phase in _PHASES.value:
      for form in _FORMS.value:
        start = time.perf_counter()
        bench = harness.StepBench(with_unroll(base, form), phase, shape, batch, lower_only=True)
        lower_seconds = bench.lower_seconds
        if _FLOPS_ONLY.value:
          rows.append({'dataset': dataset, 'preset': preset, 'phase': phase, 'form': form,
                       'batch': batch, 'lower_seconds': lower_seconds,
                       'flops_per_image': harness.lowered_flops(bench.lowered) / batch,
                       'trainable_parameters': bench.trainable_parameters()})
          print(f'{size} {phase} {form}: {rows[-1]["flops_per_image"] / 1e9:.2f} GFLOP/image',
                flush=True)
          harness.write(result, _OUT.value)
          continue
        compile_seconds = bench.compile()
        steps = bench.step_seconds(_STEPS.value, warmup=1)
        rows.append({'dataset': dataset, 'preset': preset, 'phase': phase, 'form': form,
                     'batch': batch, 'lower_seconds': lower_seconds,
                     'compile_seconds': compile_seconds,
                     'median_step_seconds': harness.median(steps),
                     # XLA counts a rolled loop's body once: FLOPs only from the unrolled form.
                     'flops_per_image': bench.flops() / batch if form == 'unrolled' else None,
                     'trainable_parameters': bench.trainable_parameters(),
                     'wall_seconds': time.perf_counter() - start})
        print(f'{size} {phase} {form}: lower {lower_seconds:.1f} s, compile '
              f'{compile_seconds:.1f} s, step {harness.median(steps):.3f} s', flush=True)
        harness.write(result, _OUT.value)
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
