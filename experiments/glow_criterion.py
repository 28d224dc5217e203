"""The Glow-layer criterion over phase-1 seeds (recipe 'glow_layer_seeds'): at T = 0.5 the Glow
layer's samples x score a lower FID than the decoder means of the same z and than x_tilde, the
same noise before the layer. Each seed is its own VAE and Glow layer, so each comparison is a
paired t test over seeds; the two comparisons are one family (Holm), and a verdict comes only
from stats.decide.

Input: FOLDER/seed<S>/metrics.json with the Glow-layer phase's metrics under 'glow'.
"""

from __future__ import annotations

import re

from experiments import factorial
from vaeglow_jax.evaluation import stats
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.io import files as files_lib


def load(folder: str) -> dict:
  """{seed: the 'glow' phase's metrics} of FOLDER/seed<S>/metrics.json."""
  runs = {}
  for name in files_lib.list_dir(folder):
    metrics = files_lib.read_json(files_lib.join(folder, name, 'metrics.json'))
    if re.fullmatch(r'seed\d+', name) and metrics and 'glow' in metrics:
      runs[int(name[4:])] = metrics['glow']
  return runs


def comparisons(runs: dict, temperature: str = '0.5') -> list[dict]:
  """[{'against': 'decoder means' | 'x_tilde', 'x', 'other' (per-seed FIDs, seed order), 'test',
  'adjusted_p', 'verdict'}] in the first feature space of each run's Glow-layer measures."""
  xs, means, tildes = [], [], []
  for seed in sorted(runs):
    m = runs[seed]
    layer = m[keys.GLOW_LAYER]
    space = next(iter(layer['x_tilde']))
    xs.append(m[keys.by_temperature(keys.score_key('fid', space))][temperature])
    means.append(layer['decoder_mean'][space]['fid'])
    tildes.append(layer['x_tilde'][space][temperature]['fid'])
  rows = [{'against': name, 'x': xs, 'other': other, 'test': stats.paired_test(xs, other)}
          for name, other in (('decoder means', means), ('x_tilde', tildes))]
  return factorial.adjust(rows, family=lambda row: 'the criterion')


def markdown(runs: dict, temperature: str = '0.5') -> str:
  """The criterion's two paired tests as a table (FID; negative favours the Glow layer)."""
  lines = [f'The Glow layer at T={temperature} against its decoder means and against x_tilde, '
           f'paired over seeds {", ".join(str(s) for s in sorted(runs))} (FID, first feature '
           'space; negative favours the layer; the two tests are one Holm family):', '',
           '| x against | per-seed differences | mean +- SE | t | p | Holm p | verdict |',
           '|---|---|---|---|---|---|---|']
  for r in comparisons(runs, temperature):
    test = r['test']
    diffs = ', '.join(f'{x - o:+.1f}' for x, o in zip(r['x'], r['other']))
    if test is None:
      lines.append(f"| {r['against']} | {diffs} | n/a | n/a | n/a | n/a | {r['verdict']} |")
      continue
    lines.append(f"| {r['against']} | {diffs} | {test.effect:+.1f} +- {test.se:.1f} | "
                 f'{test.effect / test.se:+.2f} | {test.p:.3f} | {r["adjusted_p"]:.3f} | '
                 f"{r['verdict']} |")
  return '\n'.join(lines) + '\n'
