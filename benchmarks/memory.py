"""Peak device memory of each phase's train step at paper sizes, with and without remat.

For each phase, XLA's memory analysis of the compiled train step (the trainer's own
`make_train_step`, on one device, at the config's global batch): the parameters, optimizer state
and batch it takes (arguments), what it returns (outputs, mostly donated back into the
arguments: aliased), and the temporaries it plans for (activations kept for the backward
pass). Nothing is run, so the numbers are the compiler's plan, not a measured high-water mark.
Phases with flow steps (`glow`, `joint`, `glow_baseline`) are compiled with
`model.glow.remat` / `model.baseline.remat` off and on.

Run: python -m benchmarks.memory [--dataset=cifar10] [--preset=default] [--out=FILE]
"""

from __future__ import annotations

import time

from absl import app, flags

from benchmarks import harness

_DATASET = flags.DEFINE_string('dataset', 'cifar10', 'fashion_mnist or cifar10')
_PRESET = flags.DEFINE_string('preset', 'default', "'default' (paper sizes), 'quick' or 'test'")
_BATCH = flags.DEFINE_integer('batch', 0, 'global batch; 0: the config batch_size')
_PHASES = flags.DEFINE_list('phases', ['vae', 'glow', 'joint', 'prior', 'second_stage', 'glow_baseline'],
                            'phases to compile')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')

_FLOW_PHASES = ('glow', 'joint', 'glow_baseline')  # the phases remat changes
_MIB = 2 ** 20


def _measure(config, phase, shape, batch):
  start = time.perf_counter()
  bench = harness.StepBench(config, phase, shape, batch)
  analysis = bench.compiled.memory_analysis()
  if analysis is None:  # some backends give no analysis
    return None
  parts = {'argument_mib': analysis.argument_size_in_bytes / _MIB,
           'output_mib': analysis.output_size_in_bytes / _MIB,
           'alias_mib': analysis.alias_size_in_bytes / _MIB,
           'temp_mib': analysis.temp_size_in_bytes / _MIB}
  return {**parts, 'total_mib': bench.memory_bytes() / _MIB,
          'trainable_parameters': bench.trainable_parameters(),
          'all_parameters': bench.all_parameters(),
          'compile_seconds': bench.compile_seconds,
          'build_seconds': time.perf_counter() - start}


def main(argv):
  del argv
  config = harness.model_config(_DATASET.value, _PRESET.value)
  shape = harness.image_shape_of(config, _DATASET.value, _PRESET.value)
  batch = _BATCH.value or config.batch_size
  rows = {}
  for phase in _PHASES.value:
    settings = (False, True) if phase in _FLOW_PHASES else (False,)
    row = {}
    for remat in settings:
      c = config.copy_and_resolve_references()
      c.model.glow.remat = remat
      c.model.baseline.remat = remat
      row['remat' if remat else 'no_remat'] = _measure(c, phase, shape, batch)
      print(f"{phase} remat={remat}: {row['remat' if remat else 'no_remat']}", flush=True)
    rows[phase] = row
  harness.emit({'benchmark': 'memory', 'dataset': _DATASET.value, 'preset': _PRESET.value,
                'batch': batch, 'image_shape': list(shape), 'machine': harness.machine(),
                'phases': rows}, _OUT.value)


if __name__ == '__main__':
  app.run(main)
