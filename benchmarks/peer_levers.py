"""The levers tried against the normflows gap: XLA:CPU options and convolution
formulations, each timed on our multi-scale Glow at the peer benchmark's configurations.

Run: python -m benchmarks.peer_levers [--levers=a,b] [--configs=0,1] [--steps=8] [--out=FILE]
XLA options are fixed when JAX starts, so each lever runs in its own process (XLA_FLAGS, or a
config override). Each round runs 'default' first, then every lever, and a last 'default'
closes the run; the processes share one compilation cache, so rounds after the first mostly
time. Each lever reports the median over its rounds of its median step time per
configuration, and the speed-up over 'default' (all of default's runs); the peer's own
speed-up is in benchmarks.peer (same configurations, same step).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from absl import app, flags

from benchmarks import harness, peer_configs

_LEVERS = flags.DEFINE_list('levers', [], 'levers to run (default: all), names of LEVERS')
_CONFIGS = flags.DEFINE_list('configs', ['0', '1', '2', '3'],
                             'indices into benchmarks.peer_configs.CONFIGS')
_STEPS = flags.DEFINE_integer('steps', 8, 'timed steps per configuration')
_ROUNDS = flags.DEFINE_integer('rounds', 1, 'passes over the levers; medians over the rounds')
_WORKER = flags.DEFINE_string('worker', '', 'internal: time one lever in this process')
_TINY = flags.DEFINE_bool('tiny', False, 'smoke test: the peer benchmark\'s tiny configurations')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')

# name -> (extra XLA_FLAGS, overrides of model.baseline, what it is). Flag names are those of
# the installed jaxlib's XLA (xla/debug_options_flags.cc).
LEVERS = {
    'default': ('', {}, 'jaxlib defaults, conv_impl=auto'),
    'xnnpack_off': ('--xla_cpu_use_xnnpack=false', {}, 'XNNPACK off (on by default)'),
    'xnn_fusion_dot': ('--xla_cpu_experimental_xnn_fusion_type=dot', {},
                       'XNNPACK library fusions of dots'),
    'xnn_fusion_all': ('--xla_cpu_experimental_xnn_fusion_type=dot,eltwise,reduce', {},
                       'XNNPACK library fusions of dots, elementwise ops and reductions'),
    'xnn_graph_greedy': ('--xla_cpu_experimental_xnn_graph_fusion_mode='
                         'XNN_GRAPH_FUSION_MODE_GREEDY', {}, 'XNNPACK graph fusion, greedy'),
    'onednn': ('--xla_cpu_use_onednn=true', {}, 'oneDNN thunks for matmul and convolution'),
    'onednn_fusion_dot': ('--xla_cpu_experimental_onednn_fusion_type=dot', {},
                          'oneDNN library fusions of dots'),
    'ynn_fusion_dot': ('--xla_cpu_experimental_ynn_fusion_type=dot', {},
                       'YNNPACK library fusions of dots'),
    'fast_math': ('--xla_cpu_enable_fast_math=true', {}, 'LLVM fast math'),
    'legacy_emitters': ('--xla_cpu_use_fusion_emitters=false', {},
                        'the pre-MLIR elemental fusion emitters'),
    'one_thread_per_op': ('--xla_cpu_multi_thread_eigen=false', {},
                          'intra-op thread pool off (Eigen single-threaded)'),
    'conv_xla': ('', {'conv_impl': 'xla'}, "every coupling-net conv as XLA's convolution"),
    'conv_patches': ('', {'conv_impl': 'patches'}, 'every 3x3 conv as patches x kernel matmul'),
    'conv_taps': ('', {'conv_impl': 'taps'}, 'every 3x3 conv as one matmul per tap'),
    # Not the peer's numerics (normflows runs float32): what this CPU's bfloat16 matmul units
    # (AVX512_BF16, AMX) would give, if a user accepts bf16 coupling nets.
    'bf16_nets': ('', peer_configs.BF16_NETS,
                  'coupling nets in bfloat16 (log-dets and parameters stay float32)'),
}


def _selected_configs() -> dict:
  """{index as a string (the JSON key): (image_shape, levels, depth, hidden, batch)}."""
  configs = peer_configs.TINY_CONFIGS if _TINY.value else peer_configs.CONFIGS
  return {index: configs[int(index)] for index in _CONFIGS.value}


def _time_lever(name: str) -> dict:
  """In a process started with the lever's XLA_FLAGS: {config index: median step seconds}."""
  _, overrides, _ = LEVERS[name]
  out = {}
  for index, (shape, levels, depth, hidden, batch) in _selected_configs().items():
    bench = peer_configs.ours(shape, levels, depth, hidden, batch, **overrides)
    seconds = harness.median(bench.step_seconds(_STEPS.value, warmup=2))
    out[index] = {'step_seconds': seconds, 'images_per_second': batch / seconds,
                  'compile_seconds': bench.compile_seconds}
  return out


def _run_worker(name: str) -> dict:
  xla_flags, _, _ = LEVERS[name]
  env = {**os.environ, 'XLA_FLAGS': f"{os.environ.get('XLA_FLAGS', '')} {xla_flags}".strip()}
  args = [sys.executable, '-m', 'benchmarks.peer_levers', f'--worker={name}',
          f'--steps={_STEPS.value}', f'--configs={",".join(_CONFIGS.value)}']
  if _TINY.value:
    args.append('--tiny')
  result = subprocess.run(args, capture_output=True, text=True, env=env)
  if result.returncode != 0:  # an option this jaxlib rejects is a result too
    return {'error': (result.stderr.strip().splitlines() or ['(no output)'])[-1][:300]}
  return json.loads(result.stdout.strip().splitlines()[-1])


def _summary(name: str, runs: list[dict], batches: dict) -> dict:
  """One lever's entry: the median over its runs of each configuration's median step time;
  `batches` {config index: batch size}."""
  xla_flags, overrides, what = LEVERS[name]
  entry = {'xla_flags': xla_flags, 'overrides': overrides, 'what': what, 'runs': runs}
  good = [run for run in runs if 'error' not in run]
  if not good:
    entry['results'] = runs[-1]
    return entry
  entry['results'] = {}
  for index in good[0]:
    seconds = harness.median([run[index]['step_seconds'] for run in good])
    entry['results'][index] = {'step_seconds': seconds,
                               'images_per_second': batches[index] / seconds,
                               'rounds': len(good)}
  return entry


def main(argv):
  del argv
  if _WORKER.value:
    print(json.dumps(_time_lever(_WORKER.value)))
    return
  names = _LEVERS.value or list(LEVERS)
  unknown = sorted(set(names) - set(LEVERS))
  if unknown:
    raise app.UsageError(f'unknown levers {unknown}; known: {sorted(LEVERS)}')
  names = ['default'] + [n for n in names if n != 'default']
  report = {'benchmark': 'peer_levers', 'machine': harness.machine(), 'configs': {},
            'levers': {}}
  for index, (shape, levels, depth, hidden, batch) in _selected_configs().items():
    report['configs'][index] = {'image_shape': list(shape), 'levels': levels, 'depth': depth,
                                'hidden': hidden, 'batch': batch}
  batches = {index: config['batch'] for index, config in report['configs'].items()}
  runs = [name for _ in range(_ROUNDS.value) for name in names] + ['default']
  measured = {name: [] for name in names}
  with tempfile.TemporaryDirectory() as cache_dir:
    os.environ['JAX_COMPILATION_CACHE_DIR'] = cache_dir  # the workers inherit it
    for name in runs:
      result = _run_worker(name)
      measured[name].append(result)
      print(f'{name}: {json.dumps(result)}', file=sys.stderr, flush=True)
      report['levers'][name] = _summary(name, measured[name], batches)
      harness.write(report, _OUT.value)
  base = report['levers']['default']['results']
  for entry in report['levers'].values():
    results = entry['results']
    if 'error' in results or 'error' in base:
      continue
    entry['speedup_over_default'] = {
        index: base[index]['step_seconds'] / row['step_seconds'] for index, row in results.items()}
  harness.emit(report, _OUT.value)


if __name__ == '__main__':
  app.run(main)
