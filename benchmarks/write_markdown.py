"""Regenerates BENCHMARKS.md from the JSON files the benchmarks wrote.

Run: python -m benchmarks.write_markdown [--results=benchmarks/results/cpu] [--out=BENCHMARKS.md]
"""

from __future__ import annotations

import glob
import json
import os
import statistics

from absl import app, flags

_RESULTS = flags.DEFINE_string('results', 'benchmarks/results/cpu', 'folder with the JSON files')
_OUT = flags.DEFINE_string('out', 'BENCHMARKS.md', 'Markdown file to write')


def _load(name):
  path = os.path.join(_RESULTS.value, f'{name}.json')
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def _g(x, digits=1):
  return '-' if x is None else f'{x:.{digits}f}'


def _gflop(flops):
  return _g(None if flops is None else flops / 1e9, 2)


def _config_label(c):
  return f"{'x'.join(map(str, c['image_shape']))} L{c['levels']} K{c['depth']} h{c['hidden']} batch {c['batch']}"


def _peer_section(name: str, title: str, note: str = ''):
  """The table of benchmarks.peer's JSON `name`, or nothing when it is missing."""
  peer = _load(name)
  if not peer:
    return []
  lines = [f'## {title}', '', *([note, ''] if note else []),
           f"Machine: {peer['machine']['device_kind']} ({peer['machine']['backend']}), torch "
           f"{peer['torch']} with {peer['torch_threads']} threads, jax {peer['machine']['jax']}.", '',
           '| image | L | K | hidden | batch | ours img/s | normflows img/s | speed-up | params ours / normflows | GFLOP/step ours / normflows |',
           '|---|---|---|---|---|---|---|---|---|---|']
  for r in peer['results']:
    lines.append(f"| {'x'.join(map(str, r['image_shape']))} | {r['levels']} | {r['depth']} | "
                 f"{r['hidden']} | {r['batch']} | {_g(r['ours_images_per_second'])} | "
                 f"{_g(r['normflows_images_per_second'])} | {_g(r['speedup'], 2)}x | "
                 f"{r['ours_parameters']:,} / {r['normflows_parameters']:,} | "
                 f"{_g(r['ours_flops_per_step'] / 1e9, 2)} / {_g(r['normflows_flops_per_step'] / 1e9, 2)} |")
  return lines + ['', f"Smallest speed-up {_g(peer['min_speedup'], 2)}x (target {peer['target_speedup']}x).", '']


def _lever_sections():
  """The levers tried against the peer gap: XLA options and conv formulations, the folded
  ActNorm, and the per-op profile at two batch sizes."""
  lines = []
  for name, title in (('peer_levers_screen', 'Levers against the peer gap: one round each'),
                      ('peer_levers', 'The leading levers, interleaved rounds'),
                      ('peer_levers_bf16', 'bfloat16 coupling nets against float32, interleaved rounds')):
    levers = _load(name)
    if not levers:
      continue
    indices = sorted(levers['configs'], key=int)
    rounds = min(r.get('rounds', 1) for e in levers['levers'].values()
                 for r in e['results'].values() if isinstance(r, dict))
    lines += [f'### {title} (`benchmarks.peer_levers`, {rounds} round(s))', '',
              'Our step at the peer configurations, one process per lever (XLA options are fixed '
              "when JAX starts); each round runs 'default' first, and a last 'default' closes the "
              "run. Speed-up: default's step time over the lever's, same configuration; medians over "
              'rounds.', '',
              '| lever | what | ' + ' | '.join(f'{_config_label(levers["configs"][i])} img/s (speed-up)' for i in indices) + ' |',
              '|---|---|' + '---|' * len(indices)]
    for lever, entry in levers['levers'].items():
      results, speedup = entry['results'], entry.get('speedup_over_default', {})
      if 'error' in results:
        cells = [f"failed: {results['error'][:80]}"] + [''] * (len(indices) - 1)
      else:
        cells = [f"{_g(results[i]['images_per_second'])} ({_g(speedup.get(i), 2)}x)" for i in indices]
      lines.append(f"| {lever} | {entry['what']} | " + ' | '.join(cells) + ' |')
    lines.append('')
  fusion = _load('actnorm_fusion')
  if fusion:
    lines += ['### ActNorm folded into the 1x1 convolution (`benchmarks.actnorm_fusion`)', '',
              'ActNorm then the 1x1 conv, forward and backward, summed over every step of every level, '
              'against the same map as one matmul with folded weights. The saving bounds what the '
              'fold could give a train step.', '',
              '| configuration | separate ms/step | folded ms/step | saved ms/step |', '|---|---|---|---|']
    for r in fusion['results']:
      lines.append(f"| {_config_label(r)} | {_g(1e3 * r['separate_seconds_per_step'])} | "
                   f"{_g(1e3 * r['folded_seconds_per_step'])} | {_g(1e3 * r['saved_seconds_per_step'])} |")
    lines.append('')
  profile = _load('op_profile')
  if profile:
    batches = sorted(profile['batches'], key=int)
    per_image = {b: profile['batches'][b]['busy_microseconds_per_image'] for b in batches}
    from benchmarks.harness import instruction_group as group
    groups = {}
    for b in batches:
      for kind, value in per_image[b].items():
        groups.setdefault(group(kind), {}).setdefault(b, 0.0)
        groups[group(kind)][b] += value
    def row(name, values):
      ratio = values[-1] / values[0] if values[0] and values[-1] else None
      return f'| {name} | ' + ' | '.join(_g(v, 0) for v in values) + f' | {_g(ratio, 2)} |'
    lines += ['### Where the step goes at batch ' + ' and '.join(batches) + ' (`benchmarks.op_profile`)', '',
              f"{'x'.join(map(str, profile['image_shape']))} L{profile['levels']} K{profile['depth']} "
              f"h{profile['hidden']}; XLA:CPU thunk time per image (microseconds, busy time summed over "
              'threads) from a jax.profiler trace, by group and then by HLO instruction kind (the top '
              'eight). Ratio: the last batch over the first; above 1, a kind costs more per image at '
              'the larger batch.', '',
              '| group / kind | ' + ' | '.join(f'batch {b}' for b in batches) + ' | ratio |',
              '|---|' + '---|' * len(batches) + '---|']
    for name in sorted(groups, key=lambda g: -groups[g][batches[-1]]):
      lines.append(row(f'**{name}**', [groups[name].get(b, 0.0) for b in batches]))
    top = sorted(per_image[batches[-1]], key=lambda k: -per_image[batches[-1]][k])[:8]
    for kind in top:
      lines.append(row(f'`{kind}`', [per_image[b].get(kind) for b in batches]))
    lines.append(row('all thunks', [sum(per_image[b].values()) for b in batches]))
    lines.append(row('step (wall)', [1e6 * profile['batches'][b]['step_seconds'] / int(b) for b in batches]))
    lines.append('')
  return lines


def _ab_runs(folder: str, side: str) -> list[dict]:
  paths = sorted(glob.glob(os.path.join(_RESULTS.value, folder, f'{side}_*.json')))
  return [json.load(open(p)) for p in paths]


def _conv_autodiff_section() -> list[str]:
  """benchmarks/ab_commits.sh of the custom-VJP convolutions ('old') against plain JAX ('new')."""
  folder = 'conv_autodiff'
  old, new = _ab_runs(f'{folder}/shapes', 'old'), _ab_runs(f'{folder}/shapes', 'new')
  if not old or not new:
    return []
  lines = ['## Convolutions: custom VJPs against plain JAX (`benchmarks/ab_commits.sh`)', '',
           "The matmul formulations with hand-written gradients ('old', commit 8f36f0d) against the "
           "same formulations in plain JAX, whose transposes autodiff derives ('new', 347dd57; "
           'forward mode and Hessians work). Processes alternate old/new; medians over '
           f'{len(new)} rounds of the gradient milliseconds of the formulation `auto` picks '
           '(paper shapes, batch 16).', '',
           '| size | Cin -> Cout | kernel | auto picks | old ms | new ms | new / old |',
           '|---|---|---|---|---|---|---|']
  for i, row in enumerate(new[0]['shapes']):
    impl = row['auto']
    o = statistics.median(r['shapes'][i]['ms'][impl]['gradient'] for r in old)
    n = statistics.median(r['shapes'][i]['ms'][impl]['gradient'] for r in new)
    lines.append(f"| {row['height']}x{row['height']} | {row['cin']} -> {row['cout']} | "
                 f"{row['kernel']}x{row['kernel']} | {impl} | {_g(o)} | {_g(n)} | {n / o:.2f} |")
  old, new = _ab_runs(f'{folder}/steps', 'old'), _ab_runs(f'{folder}/steps', 'new')
  if old and new:
    lines += ['', 'Train steps (quick preset, batch 64), images per second in each round, new / old:',
              '', '| dataset | phase | rounds: new / old |', '|---|---|---|']
    keyed = lambda run: {(r['dataset'], r['phase']): r['images_per_second'] for r in run['results']}
    for key in keyed(old[0]):
      ratios = [keyed(n)[key] / keyed(o)[key] for o, n in zip(old, new)
                if key in keyed(n) and key in keyed(o)]
      lines.append(f"| {key[0]} | {key[1]} | {', '.join(f'{r:.2f}' for r in ratios)} |")
  return lines + ['']


def _demo_section() -> list[str]:
  """benchmarks/ab_commits.sh of benchmarks/demo_time.py: the README demo's two training
  commands, main before the change ('old') against after ('new'), alternating processes."""
  old, new = _ab_runs('demo_ab', 'old'), _ab_runs('demo_ab', 'new')
  if not old or not new:
    return []
  med = lambda runs, f: statistics.median(f(r) for r in runs)
  lines = ["## The README demo's training time, before and after (issue 32)", '',
           f"`scripts/demo.sh`'s two `experiments.train` commands (quick preset: 1,200 VAE steps, "
           f"then 500 Glow-layer steps), timed from outside by `benchmarks/demo_time.py`: old = "
           f"{', '.join(sorted({r['commit'] for r in old}))}, new = "
           f"{', '.join(sorted({r['commit'] for r in new}))}, alternating processes "
           f"(`benchmarks/ab_commits.sh`), medians of {len(new)} rounds. Wall seconds include "
           'start-up, data, compilation, samples and checkpoints; s/step is the trainer\'s own median.',
           '', '| phase | old s | new s | old / new | old s/step | new s/step | devices old / new |',
           '|---|---|---|---|---|---|---|']
  for phase in new[0]['phases']:
    o = med(old, lambda r: r['phases'][phase]['wall_seconds'])
    n = med(new, lambda r: r['phases'][phase]['wall_seconds'])
    lines.append(f"| {phase} | {_g(o)} | {_g(n)} | **{o / n:.2f}x** | "
                 f"{_g(med(old, lambda r: r['phases'][phase]['median_step_seconds']), 3)} | "
                 f"{_g(med(new, lambda r: r['phases'][phase]['median_step_seconds']), 3)} | "
                 f"{old[0]['phases'][phase]['num_devices']} / {new[0]['phases'][phase]['num_devices']} |")
  o, n = med(old, lambda r: r['total_seconds']), med(new, lambda r: r['total_seconds'])
  rounds = ', '.join(f"{a['total_seconds'] / b['total_seconds']:.2f}" for a, b in zip(old, new))
  lines += [f'| both | {_g(o)} | {_g(n)} | **{o / n:.2f}x** | | | |', '',
            f'Per round, old / new: {rounds}.', '']
  return lines


def _conv_transpose_section() -> list[str]:
  result = _load('conv_transpose')
  if not result:
    return []
  lines = ['## Transposed convolutions: XLA against sub-pixel (`benchmarks.conv_transpose`)', '',
           "The quick decoder's 3x3 stride-2 upsampling layers; gradient (input and kernel) "
           'milliseconds, both forms alternating.', '',
           '| input | Cin -> Cout | batch | XLA ms | sub-pixel ms | speed-up | max abs difference |',
           '|---|---|---|---|---|---|---|']
  for r in result['results']:
    lines.append(f"| {r['height']}x{r['height']} | {r['cin']} -> {r['cout']} | {r['batch']} | "
                 f"{_g(r['gradient_ms']['xla'])} | {_g(r['gradient_ms']['subpixel'])} | "
                 f"{r['speedup']:.2f}x | {r['max_abs_difference']:.1e} |")
  return lines + ['']


def _compile_time_section() -> list[str]:
  result = _load('compile_time')
  if not result:
    return []
  # CelebA's paper size runs on its own (python -m benchmarks.compile_time --sizes=celeba:default
  # --out=.../compile_time_celeba.json): 12 compiles of up to 50 s each, too long beside the rest.
  celeba = _load('compile_time_celeba') or {'results': []}
  rows = {(r['dataset'], r['preset'], r['phase'], r['form']): r
          for r in result['results'] + celeba['results']}
  lines = ['## Compile time (`benchmarks.compile_time`)', '',
           'First-step seconds of each phase\'s jitted train step (trace and lower, then XLA\'s '
           'compile; the persistent cache off), every flow rolled (`unroll=1`) or unrolled (all K '
           f"steps), and the step time after compilation; {result['machine']['backend']} "
           f"({result['machine']['device_kind']}). Paper sizes at a small batch on CPU: compile "
           'seconds barely depend on it.', '',
           '| size | phase | batch | rolled: compile s | step s | unrolled: compile s | step s | '
           'GFLOP/image |', '|---|---|---|---|---|---|---|---|']
  for (dataset, preset, phase, form), r in rows.items():
    if form != 'rolled':
      continue
    u = rows.get((dataset, preset, phase, 'unrolled'), {})
    total = lambda x: None if not x else x['lower_seconds'] + x['compile_seconds']
    lines.append(f"| {dataset} {preset} | {phase} | {r['batch']} | {_g(total(r))} | "
                 f"{_g(r['median_step_seconds'], 3)} | {_g(total(u))} | "
                 f"{_g(u.get('median_step_seconds'), 3)} | {_gflop(u.get('flops_per_image'))} |")
  return lines + ['']


def _phase_profile_section() -> list[str]:
  profile = _load('op_profile_quick')
  if not profile:
    return []
  from benchmarks.harness import instruction_group as group
  lines = [f"## Where the '{profile['preset']}' phases spend their step "
           '(`benchmarks.op_profile --preset`)', '',
           f"{'x'.join(map(str, profile['image_shape']))}; XLA:CPU thunk time per step "
           '(milliseconds, busy time summed over threads) from a jax.profiler trace, by group and '
           'by HLO instruction kind (the top six), on one device.', '']
  for phase, by_batch in profile['phases'].items():
    for batch, row in by_batch.items():
      per_step = {k: v * int(batch) / 1e3 for k, v in row['busy_microseconds_per_image'].items()}
      total = sum(per_step.values())
      groups = {}
      for kind, value in per_step.items():
        groups[group(kind)] = groups.get(group(kind), 0.0) + value
      lines += [f"**{phase}**, batch {batch}: {_g(1e3 * row['step_seconds'])} ms/step wall, "
                f"{_g(row['flops_per_step'] / 1e9, 2)} GFLOP/step, busy / wall "
                f"{row['busy_over_wall']:.2f}.", '', '| group / kind | ms/step | share |', '|---|---|---|']
      for name in sorted(groups, key=lambda g: -groups[g]):
        lines.append(f'| **{name}** | {_g(groups[name])} | {groups[name] / total:.0%} |')
      for kind in sorted(per_step, key=lambda k: -per_step[k])[:6]:
        lines.append(f'| `{kind}` | {_g(per_step[kind])} | {per_step[kind] / total:.0%} |')
      lines.append('')
  return lines


def _prior_speed_section() -> list[str]:
  """benchmarks.prior_speed: MAF against RealNVP priors, density and sampling."""
  result = _load('prior_speed')
  if not result:
    return []
  prior = result['prior']
  lines = ['## Latent priors: MAF against RealNVP (`benchmarks.prior_speed`)', '',
           f"{result['num']:,} latents a call; the priors of '{result['preset']}' "
           f"({prior['num_layers']} layers, conditioners of {prior['num_hidden']} hidden layers "
           f"of width {prior['hidden']}); median of {result['rounds']} alternating rounds on "
           f"{result['machine']['device_kind']} ({result['machine']['backend']}). MAF sampling "
           'takes latent_dim sequential passes per layer (a jax.lax loop).', '',
           '| latent dim | prior | op | compile s | median ms | MAF / RealNVP |', '|---|---|---|---|---|---|']
  rows = {(r['latent_dim'], r['kind'], r['op']): r for r in result['results']}
  for (dim, kind, op), r in rows.items():
    base = rows.get((dim, 'flow', op))
    ratio = (f"{r['median_seconds'] / base['median_seconds']:.1f}x"
             if kind == 'maf' and base else '-')
    name = {'flow': 'RealNVP', 'maf': 'MAF'}.get(kind, kind)
    lines.append(f"| {dim} | {name} | {op} | {_g(r['compile_seconds'], 2)} | "
                 f"{_g(r['median_seconds'] * 1000, 1)} | {ratio} |")
  return lines + ['']


def _checkpoint_cost_section() -> list[str]:
  """benchmarks.checkpoint_cost: the checksums' cost on a save and a restore."""
  result = _load('checkpoint_cost')
  if not result:
    return []
  lines = ['## Checkpoint checksums: what a save and a restore cost (`benchmarks.checkpoint_cost`)', '',
           f"The '{result['preset']}' model's train state per phase, saved to and restored from "
           f"local disk; median of {result['rounds']} alternating rounds on "
           f"{result['machine']['device_kind']} ({result['machine']['backend']}). Checked: the "
           'array fingerprints and file CRCs written with each save, both verified on restore.', '',
           '| phase | state MiB | save ms Orbax / checked | restore ms Orbax / checked | '
           'fingerprints ms | save + | restore + |', '|---|---|---|---|---|---|---|']
  for r in result['results']:
    m = r['median_seconds']
    lines.append(f"| {r['phase']} | {_g(r['state_bytes'] / 2**20)} | {_g(m['save_orbax'] * 1000, 0)}"
                 f" / {_g(m['save_checked'] * 1000, 0)} | {_g(m['restore_orbax'] * 1000, 0)} / "
                 f"{_g(m['restore_checked'] * 1000, 0)} | {_g(m['fingerprints'] * 1000, 1)} | "
                 f"{r['save_overhead']:+.0%} | {r['restore_overhead']:+.0%} |")
  return lines + ['']


def _first_result_section() -> list[str]:
  """benchmarks.first_result: the smoke run's commands and load, compilation cache cold / warm."""
  result = _load('first_result')
  if not result:
    return []
  commands, load = result['commands'], result['load']
  lines = ['## Time to a first result: the compilation cache and `load` (`benchmarks.first_result`)',
           '',
           f"The {result['config']} run's four commands, each its own process, with JAX's "
           'persistent compilation cache (`VAEGLOW_COMPILATION_CACHE`, on by default in the '
           'commands) cold, then warm from the cold pass, into a new work directory; wall seconds '
           f"on {result['machine']['device_kind']} ({result['machine']['backend']}), one run.", '',
           '| command | cold s | warm s |', '|---|---|---|']
  for name in ('train vae', 'train glow', 'evaluate', 'sample', 'total'):
    lines.append(f"| {name} | {_g(commands['cold'][name], 1)} | {_g(commands['warm'][name], 1)} |")
  lines += ['', f"Warm / cold: {commands['warm_over_cold']:.2f}.", '',
            '`vaeglow_jax.load` of that run in a fresh process (after '
            '`vaeglow_jax.enable_compilation_cache()`), then each method once and '
            f"{result['calls']} more times (median of the later calls), 16 images:", '',
            '| call | first s, cold cache | later s | first / later | first s, warm cache |',
            '|---|---|---|---|---|',
            f"| load | {_g(load['cold']['load'], 2)} | - | - | {_g(load['warm']['load'], 2)} |"]
  for name in ('sample', 'bits_per_dim', 'reconstruct'):
    cold, warm = load['cold'][name], load['warm'][name]
    lines.append(f"| {name} | {_g(cold['first'], 2)} | {_g(cold['later_median'], 3)} | "
                 f"{cold['first_over_later']:.0f}x | {_g(warm['first'], 2)} |")
  lines += ['', f"load + first sample: {_g(load['cold']['load_and_first_sample'], 1)} s cold, "
            f"{_g(load['warm']['load_and_first_sample'], 1)} s warm. A later `sample(16)` is the "
            'sampling itself (the decoder and the Glow layer\'s inverse), not a compilation: '
            'JAX logs none (tests/evaluation/test_trained_run.py).', '']
  return lines


def main(argv):
  del argv
  lines = ['# Benchmarks', '',
           f'Generated by `python -m benchmarks.write_markdown` from `{_RESULTS.value}/*.json`; '
           'every figure is a median over timed steps after compilation, measured side by side in '
           'one run. Commands: `python -m benchmarks.<name> --out=' + _RESULTS.value + '/<name>.json`.',
           '']
  lines += (_demo_section() + _phase_profile_section() + _conv_transpose_section()
            + _compile_time_section() + _prior_speed_section() + _checkpoint_cost_section()
            + _first_result_section())
  lines += _peer_section('peer', 'Peer: multi-scale Glow against normflows (PyTorch)')
  lines += _peer_section('peer_bf16', 'Peer in bfloat16 mixed precision (`benchmarks.peer --bf16`)',
                         'Both sides in bfloat16 mixed precision: our coupling nets with '
                         "net_dtype='bfloat16' (parameters, log-dets and the 1x1 convs stay float32), "
                         'normflows under `torch.autocast("cpu", torch.bfloat16)`. Not the float32 '
                         'numerics of the table above.')
  lines += _lever_sections()
  ratio = _load('epoch_ratio')
  if ratio:
    p = ratio['phases']
    lines += ['## Epoch ratio: standalone Glow against the full model (paper\'s Table 4)', '',
              f"CIFAR-10 size, batch {ratio['batch']}, 50,000 images per epoch; Glow layer "
              f"K={ratio.get('glow_layer_depth', 32)}, coupling width {ratio.get('glow_layer_hidden', 512)}; "
              f"{ratio['machine']['backend']} ({ratio['machine']['device_kind']}).", '',
              '| model | s/step | s/epoch | parameters | GFLOP/image |', '|---|---|---|---|---|']
    names = {'glow_baseline': 'Glow L=3 K=32 h512', 'vae': 'full model phase 1 (VAE + flow prior)',
             'glow': 'full model phase 2 (Glow layer, VAE frozen)'}
    for key, name in names.items():
      if key in p:
        lines.append(f"| {name} | {_g(p[key]['median_step_seconds'], 3)} | {_g(p[key]['seconds_per_epoch'])} | "
                     f"{p[key]['model_parameters']:,} | {_gflop(p[key]['flops_per_image'])} |")
    if 'ratio' in ratio:
      lines += ['', f"Full model s/epoch (mean of its phases): {_g(ratio['full_model_seconds_per_epoch'])}; "
                f"Glow: {_g(ratio['glow_seconds_per_epoch'])}; **ratio {_g(ratio['ratio'], 2)}** "
                f"(paper: > {ratio['paper_claim']}).", '']
    if len(ratio.get('sweep', [])) > 1:
      lines += ['', 'The ratio against the Glow layer\'s size (phase 1 and Glow timed once):', '',
                '| Glow layer K | width | s/step | GFLOP/image | trainable parameters | full model s/epoch | ratio |',
                '|---|---|---|---|---|---|---|']
      for r in ratio['sweep']:
        lines.append(f"| {r['depth']} | {r['hidden']} | {_g(r['median_step_seconds'], 3)} | "
                     f"{_gflop(r['flops_per_image'])} | {r['trainable_parameters']:,} | "
                     f"{_g(r['full_model_seconds_per_epoch'])} | {_g(r['ratio'], 2)} |")
      lines.append('')
  for roof in (_load('roofline_quick'), _load('roofline')):
    if not roof:
      continue
    lines += [f"## Roofline: {roof['dataset']} '{roof['preset']}'", '',
              f"Measured fp32 matmul peak: {_g(roof['matmul_peak_flops_per_second'] / 1e9)} GFLOP/s; "
              f"{roof['dataset']} '{roof['preset']}' models.", '',
              '| phase | batch | s/step | GFLOP/step | GFLOP/s | fraction of peak |', '|---|---|---|---|---|---|']
    for r in roof['results']:
      lines.append(f"| {r['phase']} | {r['batch']} | {_g(r['median_step_seconds'], 3)} | "
                   f"{_g(r['flops_per_step'] / 1e9, 2)} | {_g(r['achieved_flops_per_second'] / 1e9)} | "
                   f"{r['fraction_of_matmul_peak']:.1%} |")
    lines += ['', 'Where the time goes (each part compiled and timed alone, as a fraction of the step):', '']
    for r in roof['results']:
      parts = ', '.join(f"{k} {v['fraction_of_step_time']:.0%} ({_g(v['flops'] / v['median_seconds'] / 1e9)} GFLOP/s)"
                        for k, v in r['parts'].items())
      lines.append(f"- {r['phase']}: {parts}")
    lines.append('')
  convs = _load('conv_impl')
  if convs:
    lines += ['## Convolutions: XLA against the matmul formulations (vaeglow_jax.conv)', '',
              f"Batch {convs['batch']}; milliseconds forward / gradient (input and kernel), "
              "each formulation compiled and timed alone.", '',
              '| size | Cin -> Cout | kernel | xla | patches | taps | matmul | auto picks | gradient speed-up |',
              '|---|---|---|---|---|---|---|---|---|']
    for r in convs['shapes']:
      cell = lambda i: (f"{_g(r['ms'][i]['forward'])} / {_g(r['ms'][i]['gradient'])}"
                        if i in r['ms'] else '')
      lines.append(f"| {r['height']}x{r['height']} | {r['cin']} -> {r['cout']} | {r['kernel']}x{r['kernel']} | "
                   f"{cell('xla')} | {cell('patches')} | {cell('taps')} | {cell('matmul')} | "
                   f"{r['auto']} | {_g(r['gradient_speedup_auto_vs_xla'], 2)}x |")
    lines += ['', "Train steps, `conv_impl='xla'` against `'auto'`, alternating rounds:", '',
              '| phase | xla s/step | auto s/step | speed-up | GFLOP/step |', '|---|---|---|---|---|']
    for phase, r in convs['steps'].items():
      m = r['median_step_seconds']
      lines.append(f"| {phase} | {_g(m['xla'], 3)} | {_g(m['auto'], 3)} | "
                   f"{_g(r['speedup_auto_vs_xla'], 2)}x | {_g(r['gflops_per_step'], 1)} |")
    lines.append('')
  lines += _conv_autodiff_section()
  remat = _load('remat')
  if remat:
    lines += ['## Gradient checkpointing of flow steps (`remat`)', '',
              f"{remat['dataset']} '{remat['preset']}' models, batch {remat['batch']}; XLA's memory "
              'estimate of the compiled step (arguments, outputs, temporaries).', '',
              '| phase | s/step off / on | time ratio | memory MiB off / on | memory ratio |',
              '|---|---|---|---|---|']
    for phase, r in remat['phases'].items():
      off, on = r['no_remat'], r['remat']
      lines.append(f"| {phase} | {_g(off['median_step_seconds'], 3)} / {_g(on['median_step_seconds'], 3)} | "
                   f"{_g(r['time_ratio_remat_vs_not'], 2)} | {_g(off['xla_memory_mib'])} / "
                   f"{_g(on['xla_memory_mib'])} | {_g(r['memory_ratio_remat_vs_not'], 2)} |")
    lines.append('')
  memory = _load('memory')
  if memory:
    lines += ['## Memory per phase (`benchmarks.memory`)', '',
              f"{memory['dataset']} '{memory['preset']}' models (paper sizes), global batch "
              f"{memory['batch']} on one {memory['machine']['device_kind']} device; XLA's plan for the "
              'compiled train step, nothing run. Arguments are parameters, optimizer state and batch; '
              'outputs are mostly donated back into them (aliased); temporaries are the activations '
              'kept for the backward pass. Total = arguments + outputs - aliased + temporaries. '
              'Parameters are all the model\'s (frozen ones included).', '',
              '| phase | remat | parameters (trainable) | arguments MiB | temporaries MiB | total MiB |',
              '|---|---|---|---|---|---|']
    for phase, row in memory['phases'].items():
      for setting, r in row.items():
        if r is None:
          continue
        lines.append(f"| {phase} | {'on' if setting == 'remat' else 'off'} | "
                     f"{r['all_parameters']:,} ({r['trainable_parameters']:,}) | "
                     f"{_g(r['argument_mib'])} | {_g(r['temp_mib'])} | {_g(r['total_mib'])} |")
    lines.append('')
  overhead = _load('loop_overhead')
  if overhead:
    lines += ['## Training-loop overhead (`benchmarks.loop_overhead`)', '',
              f"'{overhead['preset']}' presets on {overhead['backend']}; {overhead['steps']} steps a run, "
              f"median of {overhead['rounds']} runs each, in turn; the loop logs every "
              f"{overhead['log_every_steps']} steps. bare: the jitted step back to back; loop: the "
              "trainer's `TrainLoop`; synced: a host read of every metric after every step (the "
              'loop before issue 14). Target: loop >= 97% of bare.', '',
              '| image | phase | batch | bare img/s | loop img/s | synced img/s | loop / bare | synced / bare |',
              '|---|---|---|---|---|---|---|---|']
    for r in overhead['rows']:
      rate = r['images_per_second']
      lines.append(f"| {r['dataset']} | {r['phase']} | {r['batch']} | {_g(rate['bare'])} | "
                   f"{_g(rate['loop'])} | {_g(rate['synced'])} | {r['loop_vs_bare']:.1%} | "
                   f"{r['synced_vs_bare']:.1%} |")
    lines.append('')
  throughput = _load('throughput')
  if throughput:
    lines += ['## Throughput', '', f"Models: '{throughput['preset']}' presets. Peak resident memory of "
              f"the run: {throughput['peak_rss_bytes'] / 2**30:.2f} GiB.", '',
              '| image | phase | batch | train img/s | sampling img/s | GFLOP/step | XLA memory MiB |',
              '|---|---|---|---|---|---|---|']
    for r in throughput['results']:
      sampling = _g(r['sampling_images_per_second']) if 'sampling_images_per_second' in r else ''
      memory = _g(r['xla_memory_bytes'] / 2**20) if r.get('xla_memory_bytes') else 'n/a'
      lines.append(f"| {'x'.join(map(str, r['image_shape']))} | {r['phase']} | {r['batch']} | "
                   f"{_g(r['images_per_second'])} | {sampling} | {_g(r['flops_per_step'] / 1e9, 2)} | {memory} |")
    lines.append('')
  notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'notes.md')
  if os.path.isfile(notes):  # the hand-written analysis of these numbers
    with open(notes) as f:
      lines += ['', f.read()]
  with open(_OUT.value, 'w') as f:
    f.write('\n'.join(lines))
  print(f'wrote {_OUT.value}')


if __name__ == '__main__':
  app.run(main)
