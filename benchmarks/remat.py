"""Gradient checkpointing of flow steps (`remat`): step time against memory, side by side.

For each phase, the train step with `model.glow.remat` / `model.baseline.remat` off and on:
the median step time over alternating rounds, and XLA's memory estimate of the compiled step
(arguments + outputs + temporaries, the peak it plans for). With remat the flow steps run in a
rolled loop (flows.FlowSteps), whose body XLA's cost analysis counts once: its FLOP figure is
not comparable with the unrolled one.

Run: python -m benchmarks.remat [--preset=quick] [--batch=64] [--steps=6] [--out=FILE]
"""

from __future__ import annotations

from absl import app, flags

from benchmarks import harness

_DATASET = flags.DEFINE_string('dataset', 'cifar10', 'fashion_mnist or cifar10')
_PRESET = flags.DEFINE_string('preset', 'quick', "'quick', 'default' or 'test'")
_BATCH = flags.DEFINE_integer('batch', 64, 'batch size')
_STEPS = flags.DEFINE_integer('steps', 6, 'timed steps per setting (split over rounds)')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'alternating rounds of timed steps')
_PHASES = flags.DEFINE_list('phases', ['glow', 'glow_baseline'], 'phases to measure')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')


def main(argv):
  del argv
  config = harness.model_config(_DATASET.value, _PRESET.value)
  shape = harness.image_shape_of(config, _DATASET.value, _PRESET.value)
  rows = {}
  for phase in _PHASES.value:
    benches = {}
    for remat in (False, True):
      c = config.copy_and_resolve_references()
      c.model.glow.remat = remat
      c.model.baseline.remat = remat
      benches[remat] = harness.StepBench(c, phase, shape, _BATCH.value)
    times = harness.alternate(benches, _ROUNDS.value, max(1, _STEPS.value // _ROUNDS.value))
    row = {}
    for remat, bench in benches.items():
      row['remat' if remat else 'no_remat'] = {
          'median_step_seconds': harness.median(times[remat]),
          'xla_memory_mib': bench.memory_bytes() / 2 ** 20,
          'gflops_per_step': bench.flops() / 1e9}
    row['time_ratio_remat_vs_not'] = (row['remat']['median_step_seconds']
                                      / row['no_remat']['median_step_seconds'])
    row['memory_ratio_remat_vs_not'] = row['remat']['xla_memory_mib'] / row['no_remat']['xla_memory_mib']
    rows[phase] = row
    print(f"{phase}: time x{row['time_ratio_remat_vs_not']:.2f}, "
          f"memory x{row['memory_ratio_remat_vs_not']:.2f} with remat", flush=True)
  harness.emit({'benchmark': 'remat', 'dataset': _DATASET.value, 'preset': _PRESET.value,
                'batch': _BATCH.value, 'image_shape': list(shape), 'machine': harness.machine(),
                'phases': rows}, _OUT.value)


if __name__ == '__main__':
  app.run(main)
