"""Where a train step spends its time: the peer-benchmark Glow at two batch sizes (our
images/s stay flat from batch 16 to 64 while PyTorch's rise), or, with --preset, our own phases.

Run: python -m benchmarks.op_profile [--config=0] [--batches=16,64] [--steps=5] [--out=FILE]
     python -m benchmarks.op_profile --preset=quick [--phases=vae,glow] [--batches=64] [--out=FILE]
       (the fashion_mnist preset's phases: phase 1, VAE + flow prior, and the Glow layer)
Traces `steps` train steps with jax.profiler and reads the trace back (jax.profiler.ProfileData):
every XLA:CPU thunk event, grouped by the kind of HLO instruction it runs (its name without the
'.N' suffix, e.g. 'ynn_fusion', 'copy_bitcast_fusion', 'dot'). Reports microseconds per image per
kind at each batch; a kind whose time per image does not fall with the batch is what keeps
the throughput flat. Times are summed over threads (busy time, not wall time).
"""

from __future__ import annotations

import tempfile

import jax
from absl import app, flags

from benchmarks import harness, peer_configs

_CONFIG = flags.DEFINE_integer('config', 0, 'index into benchmarks.peer_configs.CONFIGS')
_BATCHES = flags.DEFINE_list('batches', ['16', '64'], 'batch sizes to profile')
_STEPS = flags.DEFINE_integer('steps', 5, 'traced steps per batch size')
_TINY = flags.DEFINE_bool('tiny', False, 'smoke test: a tiny configuration')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')
_PRESET = flags.DEFINE_string('preset', '', "'' (the peer's Glow), or a fashion_mnist preset "
                              "('quick', 'default', 'test') whose phases are profiled")
_PHASES = flags.DEFINE_list('phases', ['vae', 'glow'], 'with --preset: the phases to profile')


def profile(bench, steps: int) -> dict:
  """Traces `steps` steps of a harness.StepBench-like `bench`: median step seconds, busy
  microseconds per image by instruction kind, busy time over wall time."""
  bench.step_seconds(2, warmup=1)
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir):
      seconds = bench.step_seconds(steps, warmup=0)
    by_kind = harness.busy_seconds_by_instruction(trace_dir, 'jit_')
  images = bench.batch * steps
  return {'step_seconds': harness.median(seconds),
          'busy_microseconds_per_image': {k: 1e6 * v / images for k, v in sorted(by_kind.items())},
          'busy_over_wall': sum(by_kind.values()) / sum(seconds)}


def _phases_main():
  config = harness.model_config('fashion_mnist', _PRESET.value)
  shape = harness.image_shape_of(config, 'fashion_mnist', _PRESET.value)
  rows = {}
  result = {'benchmark': 'op_profile_phases', 'machine': harness.machine(), 'preset': _PRESET.value,
            'image_shape': list(shape), 'phases': rows}
  for phase in _PHASES.value:
    for batch in map(int, _BATCHES.value):
      bench = harness.StepBench(config, phase, shape, batch)
      rows.setdefault(phase, {})[str(batch)] = {**profile(bench, _STEPS.value),
                                                'flops_per_step': bench.flops()}
      print(phase, batch, rows[phase][str(batch)]['step_seconds'], flush=True)
      harness.write(result, _OUT.value)
  harness.emit(result, _OUT.value)


def main(argv):
  del argv
  if _PRESET.value:
    return _phases_main()
  configs = peer_configs.TINY_CONFIGS if _TINY.value else peer_configs.CONFIGS
  shape, levels, depth, hidden, _ = configs[_CONFIG.value]
  rows = {}
  for batch in map(int, _BATCHES.value):
    rows[str(batch)] = profile(peer_configs.ours(shape, levels, depth, hidden, batch), _STEPS.value)
    print(batch, rows[str(batch)], flush=True)
  harness.emit({'benchmark': 'op_profile', 'machine': harness.machine(),
                'image_shape': list(shape), 'levels': levels, 'depth': depth, 'hidden': hidden,
                'batches': rows}, _OUT.value)


if __name__ == '__main__':
  app.run(main)
