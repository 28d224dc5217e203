"""Shared timing pieces: build a phase's real jitted train step on random 8-bit data,
time it (median after compilation), read XLA's FLOP count and memory estimate."""

from __future__ import annotations

import collections
import glob
import json
import os
import re
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax.runtime import sharding
from vaeglow_jax import data as data_lib
from vaeglow_jax import phases
from vaeglow_jax.models import losses
from vaeglow_jax.training import train as train_lib


def model_config(dataset: str, preset: str):
  """The experiments config of a dataset at a preset ('quick', 'default'), or 'test': the tiny
  preset (fashion_mnist:tiny, the tests' config) for smoke runs."""
  import importlib
  if dataset not in data_lib.DATASETS:  # the library's datasets; each has experiments/configs/<name>.py
    raise ValueError(f'no benchmark config for {dataset!r}; choose one of {list(data_lib.DATASETS)}')
  from experiments.configs import fashion_mnist
  if preset == 'test' and dataset == 'fashion_mnist':
    return fashion_mnist.get_config('tiny')
  module = importlib.import_module(f'experiments.configs.{dataset}')
  if preset == 'test' and dataset == 'cifar10':
    config = module.get_config('quick')
    tiny_config = fashion_mnist.get_config('tiny')
    config.model = tiny_config.model
    config.model.glow.num_squeezes = 0
    config.data.resize = tiny_config.data.resize  # 8x8, as the tests' config
    return config
  return module.get_config(preset)


def image_shape_of(config, dataset, preset):
  """(H, W, C) of config's data, from data.DATASETS (and data.resize); dataset and preset are
  what `model_config` built config from."""
  del dataset, preset
  return data_lib.image_shape(config.data)


class StepBench:
  """A phase's train step (the trainer's own `make_train_step`) on one device."""

  def __init__(self, config, phase_name: str, image_shape, batch: int, seed: int = 0,
               lower_only: bool = False):
    config = config.copy_and_resolve_references()
    config.phase = phase_name
    self.phase = phases.build(config, image_shape)
    self.batch = batch
    self.mesh = sharding.make_mesh(1)
    self.tx = train_lib.make_optimizer(config, steps_per_epoch=1000)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch,) + tuple(image_shape), dtype=np.uint8)
    self.images = sharding.shard_batch(images, self.mesh)
    init = jax.jit(lambda r, b: self.phase.init(r, losses.dequantize(b, None, self.phase.n_bits)))
    variables = init(jax.random.PRNGKey(seed), self.images)
    self.variables = variables
    self.state = sharding.replicate(
        train_lib.create_state(variables, self.phase.spec.trainable, self.tx), self.mesh)
    self.rng = jax.random.PRNGKey(seed + 1)
    step = train_lib.make_train_step(self.phase, self.tx, self.mesh)
    start = time.perf_counter()
    self.lowered = step.lower(self.state, self.images, self.rng)
    self.lower_seconds = time.perf_counter() - start
    self.compiled = None
    if not lower_only:
      self.compile()

  def compile(self) -> float:
    """Compiles the lowered step; -> XLA's compile seconds (compile_seconds is lowering plus
    compiling)."""
    start = time.perf_counter()
    self.compiled = self.lowered.compile()
    seconds = time.perf_counter() - start
    self.compile_seconds = self.lower_seconds + seconds
    return seconds

  def trainable_parameters(self) -> int:
    return int(sum(np.prod(p.shape) for p in jax.tree.leaves(self.state.params)))

  def all_parameters(self) -> int:
    return int(sum(np.prod(p.shape) for p in jax.tree.leaves(self.variables['params'])))

  def flops(self) -> float:
    return flops_of(self.compiled)

  def memory_bytes(self) -> int | None:
    analysis = self.compiled.memory_analysis()
    if analysis is None:
      return None
    return int(analysis.temp_size_in_bytes + analysis.argument_size_in_bytes
               + analysis.output_size_in_bytes - analysis.alias_size_in_bytes)

  def step_seconds(self, steps: int = 20, warmup: int = 2) -> list[float]:
    times = []
    for i in range(warmup + steps):
      start = time.perf_counter()
      self.state, metrics = self.compiled(self.state, self.images, self.rng)
      jax.block_until_ready(metrics)
      if i >= warmup:
        times.append(time.perf_counter() - start)
    return times


def flops_of(compiled) -> float:
  """XLA's FLOP count of a compiled function. A rolled loop body counts once, so flows are
  measured unrolled (their default, unroll=0)."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get('flops', float('nan')))


def lowered_flops(lowered) -> float:
  """XLA's FLOP count of a lowered, not yet compiled, function (the unoptimised program: the
  same convolutions and dots; a rolled loop's body counts once, as in flops_of)."""
  analysis = lowered.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get('flops', float('nan')))


# An XLA instruction: 'ynn_fusion', 'copy_bitcast_fusion.12', 'custom-call.1'; runtime events
# ('ThreadpoolListener::Record', 'end: ynn_fusion', 'PjitFunction(f)') do not match.
_INSTRUCTION = re.compile(r'([a-z][a-z0-9_-]*?)(\.[0-9]+)*')


def busy_seconds_by_instruction(trace_dir: str, step_name: str) -> dict:
  """{instruction kind: seconds} of the XLA thunk events in the trace under trace_dir.
  Events that are not XLA instructions (Python, runtime, the whole executable's own span
  `step_name`) are left out."""
  paths = glob.glob(os.path.join(trace_dir, '**', '*.xplane.pb'), recursive=True)
  if not paths:
    raise RuntimeError(f'no xplane.pb under {trace_dir}')
  profile = jax.profiler.ProfileData.from_file(paths[0])
  totals = collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      if 'python' in line.name.lower():
        continue
      for event in line.events:
        match = _INSTRUCTION.fullmatch(event.name)
        if not match or event.name.startswith(step_name):
          continue
        totals[match.group(1)] += event.duration_ns * 1e-9
  return dict(totals)


def instruction_group(kind: str) -> str:
  """The broad group of an XLA instruction kind ('ynn_fusion', 'copy_bitcast_fusion', ...), for
  the op profile's summary (benchmarks.op_profile)."""
  if kind.startswith(('ynn_', 'xnn_', 'onednn', 'dot', 'conv')):
    return 'matmuls and convolutions (library calls)'
  if kind.startswith(('copy', 'transpose')) or kind == 'concatenate':
    return 'copies, transposes, concatenations'
  if 'pad' in kind or 'slice' in kind:
    return 'pads and slices'
  return 'other elementwise fusions and ops'


def median(xs) -> float:
  return float(statistics.median(xs))


def compile_and_time(fn, *args, steps: int):
  """(median seconds of `steps` calls after one warm-up call, compiled) of jax.jit(fn)(*args)."""
  compiled = jax.jit(fn).lower(*args).compile()
  jax.block_until_ready(compiled(*args))
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return median(times), compiled


def alternate(benches: dict, rounds: int, steps: int, warmup: int = 1) -> dict:
  """{key: step times} of StepBenches timed in turn, `rounds` times, so load hits all alike."""
  times = {key: [] for key in benches}
  for _ in range(rounds):
    for key, bench in benches.items():
      times[key] += bench.step_seconds(steps, warmup=warmup)
  return times


def matmul_peak_flops(n: int = 2048, steps: int = 20) -> float:
  """Measured fp32 matmul FLOP/s of this machine (jit, n x n), median of `steps`."""
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
  seconds, _ = compile_and_time(lambda x, y: x @ y, a, b, steps=steps)
  return 2 * n ** 3 / seconds


def peak_rss_bytes() -> int:
  """Peak resident memory of this process so far (Linux reports KiB)."""
  return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def machine() -> dict:
  device = jax.devices()[0]
  return {'backend': jax.default_backend(), 'device_kind': device.device_kind,
          'device_count': jax.device_count(), 'jax': jax.__version__}


def write(result: dict, out_path: str = '') -> None:
  """Writes the JSON measured so far, so a run cut short by a time limit keeps its rows (an
  accelerator compiles a paper-size flow for minutes)."""
  if out_path:
    with open(out_path, 'w') as f:
      f.write(json.dumps(result, indent=1, sort_keys=True) + '\n')


def emit(result: dict, out_path: str = '') -> None:
  print(json.dumps(result, indent=1, sort_keys=True))
  write(result, out_path)
