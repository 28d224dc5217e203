"""Images/s of each phase's jitted train step and of sampling, plus memory.

Run: python -m benchmarks.throughput [--preset=quick|default] [--steps=20] [--out=FILE]
     (--preset=test: tiny 8x8 models, a smoke test)
Prints one JSON object: for 28x28x1 (fashion_mnist config) and 32x32x3 (cifar10 config),
phases vae / glow / glow_baseline, batch 16 and 64: median step seconds over `steps` timed
steps after compilation, images/s, XLA FLOPs per step, XLA's memory estimate of the step;
sampling images/s (batch 64); the process's peak resident memory.
"""

from __future__ import annotations

import time

import jax
from absl import app, flags

from benchmarks import harness

_PRESET = flags.DEFINE_string('preset', 'quick', "model size: 'quick' (CPU), 'default' (paper), 'test'")
_STEPS = flags.DEFINE_integer('steps', 20, 'timed steps per configuration (median reported)')
_BATCHES = flags.DEFINE_list('batches', ['16', '64'], 'global batch sizes')
_PHASES = flags.DEFINE_list('phases', ['vae', 'glow', 'glow_baseline'], 'phases to time')
_DATASETS = flags.DEFINE_list('datasets', ['fashion_mnist', 'cifar10'], '28x28x1 and 32x32x3')
_NET_DTYPE = flags.DEFINE_enum('net_dtype', 'float32', ['float32', 'bfloat16'],
                               'coupling-net compute dtype of the Glow layer and the baseline')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')


def sampling_rate(bench: harness.StepBench, num: int, temperature: float = 0.5, repeats: int = 5):
  phase = bench.phase
  fn = jax.jit(lambda v, r: phase.sample(v, r, num, temperature))
  variables = bench.state.variables()
  jax.block_until_ready(fn(variables, bench.rng))
  times = []
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(variables, jax.random.fold_in(bench.rng, i)))
    times.append(time.perf_counter() - start)
  return num / harness.median(times)


def main(argv):
  del argv
  results = []
  result = {'benchmark': 'throughput', 'preset': _PRESET.value, 'steps': _STEPS.value,
            'net_dtype': _NET_DTYPE.value, 'machine': harness.machine(), 'results': results}
  for dataset in _DATASETS.value:
    config = harness.model_config(dataset, _PRESET.value)
    config.model.glow.net_dtype = _NET_DTYPE.value
    config.model.baseline.net_dtype = _NET_DTYPE.value
    shape = harness.image_shape_of(config, dataset, _PRESET.value)
    for phase in _PHASES.value:
      for batch in (int(b) for b in _BATCHES.value):
        bench = harness.StepBench(config, phase, shape, batch)
        times = bench.step_seconds(_STEPS.value)
        seconds = harness.median(times)
        row = {'dataset': dataset, 'image_shape': list(shape), 'phase': phase, 'batch': batch,
               'median_step_seconds': seconds, 'images_per_second': batch / seconds,
               'step_seconds_min': min(times), 'step_seconds_max': max(times),
               'compile_seconds': bench.compile_seconds, 'flops_per_step': bench.flops(),
               'xla_memory_bytes': bench.memory_bytes(),
               'trainable_parameters': bench.trainable_parameters()}
        if batch == max(int(b) for b in _BATCHES.value):
          row['sampling_images_per_second'] = sampling_rate(bench, batch)
        results.append(row)
        print(f"{dataset} {phase} batch {batch}: {row['images_per_second']:.1f} img/s "
              f"(compiled in {bench.compile_seconds:.0f} s)", flush=True)
        harness.write(result, _OUT.value)
  harness.emit({**result, 'peak_rss_bytes': harness.peak_rss_bytes()}, _OUT.value)


if __name__ == '__main__':
  app.run(main)
