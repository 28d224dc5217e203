"""What the trainer's loop costs on top of its jitted train step.

Run: python -m benchmarks.loop_overhead [--preset=quick] [--steps=40] [--rounds=3] [--out=FILE]
Prints one JSON object. For each dataset and phase at the preset's batch size, three ways
of running the same `steps` steps on the same batches (already on the device), timed in
turn `rounds` times:
- bare: the jitted train step (`train.make_train_step`) called back to back, one wait at
  the end;
- loop: the trainer's own `loop.TrainLoop` with its device-side monitor
  (`train.make_loop_step`), logging every `log_every` steps, no checkpoints or samples;
- synced: the bare step plus a host read of every metric after every step (the loop before
  the earlier loop: `bool(metrics['finite'])` and `float()` on each metric).
Reports median images/s of each and the ratios loop / bare and synced / bare.
"""

from __future__ import annotations

import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks import harness
from vaeglow_jax.runtime import sharding
from vaeglow_jax.training import loop as loop_lib
from vaeglow_jax.training import train as train_lib

_PRESET = flags.DEFINE_string('preset', 'quick', "'quick' (CPU), 'default' (paper), 'test'")
_STEPS = flags.DEFINE_integer('steps', 40, 'steps per timed run')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'timed runs of each way, in turn')
_LOG_EVERY = flags.DEFINE_integer('log_every', 10, "the loop's log_every_steps (host reads)")
_PHASES = flags.DEFINE_list('phases', ['vae', 'glow'], 'phases to time')
_DATASETS = flags.DEFINE_list('datasets', ['fashion_mnist', 'cifar10'], '28x28x1 and 32x32x3')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')


def _copy(tree):
  return jax.tree_util.tree_map(jnp.copy, tree)


class LoopBench:
  """The three ways of running one phase's steps, each on its own copy of the state."""

  def __init__(self, config, phase_name, shape, batch):
    self.bench = bench = harness.StepBench(config, phase_name, shape, batch)
    rng = np.random.default_rng(1)
    self.batches = [sharding.shard_batch(rng.integers(0, 256, (batch,) + tuple(shape), np.uint8),
                                          bench.mesh) for _ in range(4)]
    self.step = bench.compiled  # the trainer's make_train_step, compiled once (slow on a GPU)
    self.loop_step, self.reset = train_lib.make_loop_step(bench.phase, bench.tx, bench.mesh,
                                                          False, 10)
    self.monitor = train_lib.new_monitor(bench.phase, bench.mesh, bench.state, self.batches[0])
    self.states = {way: _copy(bench.state) for way in ('bare', 'loop', 'synced')}
    for way in self.states:  # compile everything before timing
      self.run(way, 2)

  def run(self, way: str, steps: int) -> float:
    """Seconds for `steps` steps run `way`, up to the last step's completion."""
    state, batches = self.states[way], itertools.cycle(self.batches)
    rng = self.bench.rng
    start = time.perf_counter()
    if way == 'loop':
      loop = loop_lib.TrainLoop(self.loop_step, self.reset, num_steps=steps,
                                log_every_steps=_LOG_EVERY.value)
      state, _, _ = loop.run(state, _copy(self.monitor), batches, rng, start_step=0)
    else:
      for _ in range(steps):
        state, metrics = self.step(state, next(batches), rng)
        if way == 'synced':
          if bool(metrics['finite']):
            _ = {k: float(v) for k, v in metrics.items()}
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    self.states[way] = state
    return seconds


def main(argv):
  del argv
  rows = []
  result = {'benchmark': 'loop_overhead', 'preset': _PRESET.value, 'steps': _STEPS.value,
            'rounds': _ROUNDS.value, 'log_every_steps': _LOG_EVERY.value,
            'backend': jax.default_backend(), 'rows': rows}
  for dataset in _DATASETS.value:
    config = harness.model_config(dataset, _PRESET.value)
    shape = harness.image_shape_of(config, dataset, _PRESET.value)
    for phase in _PHASES.value:
      bench = LoopBench(config, phase, shape, config.batch_size)
      times = {way: [] for way in bench.states}
      for _ in range(_ROUNDS.value):
        for way in times:
          times[way].append(bench.run(way, _STEPS.value))
      rate = {way: _STEPS.value * config.batch_size / harness.median(t) for way, t in times.items()}
      rows.append({'dataset': dataset, 'phase': phase, 'batch': config.batch_size,
                   'images_per_second': rate,
                   'loop_vs_bare': rate['loop'] / rate['bare'],
                   'synced_vs_bare': rate['synced'] / rate['bare']})
      print(f"{dataset} {phase}: loop / bare {rows[-1]['loop_vs_bare']:.1%}", flush=True)
      harness.write(result, _OUT.value)
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
