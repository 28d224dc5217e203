"""The paper's Table 1 over seeds (recipe 'table1'): latent priors for scalar-gamma VAEs, scored
by FID of samples through the decoder means, with every contrast decided by a t test over seeds
and Holm's adjustment over the table's contrasts.

Input: RESULTS/<folder>/seed<S>/metrics.json for the folders of recipes.TABLE1_ROWS, as the
recipe's copy stages wrote them. `markdown(load(RESULTS))` is RESULTS/table.md.
"""

from __future__ import annotations

import re

from experiments.recipes import TABLE1_ROWS
from vaeglow_jax.evaluation import stats
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.io import files as files_lib

# Which VAE each results folder's rows sample through: rows of one VAE are paired by seed, rows
# of two VAEs (which share nothing but the seed number) are compared by Welch's test.
VAE_OF = {'posthoc': 'N(0, I) VAE', 'maf_prior': 'N(0, I) VAE', 'joint_flow': 'RealNVP-prior VAE',
          'joint_maf': 'MAF-prior VAE'}
NONE, SECOND, REALNVP, MAF, JOINT_REALNVP, JOINT_MAF = ((folder, phase)
                                                       for folder, phase, _ in TABLE1_ROWS)
LABELS = {(folder, phase): label for folder, phase, label in TABLE1_ROWS}
# (claim, a, b): a's FID below b's is the claim.
CONTRASTS = (
    ('post-hoc RealNVP prior beats the second-stage VAE (the paper\'s claim)', REALNVP, SECOND),
    ('post-hoc MAF prior beats the second-stage VAE', MAF, SECOND),
    ('post-hoc MAF prior beats the post-hoc RealNVP prior', MAF, REALNVP),
    ('second-stage VAE beats N(0, I)', SECOND, NONE),
    ('post-hoc RealNVP prior beats N(0, I)', REALNVP, NONE),
    ('post-hoc MAF prior beats N(0, I)', MAF, NONE),
    ('VAE trained with a MAF prior beats one trained with a RealNVP prior', JOINT_MAF, JOINT_REALNVP),
    ('VAE trained with a RealNVP prior beats the N(0, I) VAE', JOINT_REALNVP, NONE),
    ('VAE trained with a MAF prior beats the N(0, I) VAE', JOINT_MAF, NONE),
)


def load(results_dir: str) -> dict:
  """{(folder, phase): {seed: that phase's metrics}} for every row found under results_dir."""
  runs = {}
  for folder, phase, _ in TABLE1_ROWS:
    for name in files_lib.list_dir(files_lib.join(results_dir, folder)):
      match = re.fullmatch(r'seed(\d+)', name)
      metrics = match and files_lib.read_json(
          files_lib.join(results_dir, folder, name, 'metrics.json'))
      if metrics and phase in metrics:
        runs.setdefault((folder, phase), {})[int(match.group(1))] = metrics[phase]
  return runs


def spaces(runs: dict) -> list[str]:
  """The feature spaces every run was scored in, sorted."""
  found = [set(keys.feature_spaces(m)) for seeds in runs.values() for m in seeds.values()]
  return sorted(set.intersection(*found)) if found else []


def fid(metrics: dict, space: str):
  return metrics.get(keys.score_key('fid', space))


def contrasts(runs: dict) -> list[dict]:
  """Every CONTRASTS entry in every feature space with both rows present: {'claim', 'space',
  'paired', 'test' (stats.TestResult of a - b), 'adjusted_p', 'verdict'}, Holm-adjusted over all."""
  rows = []
  for space in spaces(runs):
    for claim, a, b in CONTRASTS:
      if a not in runs or b not in runs:
        continue
      paired = VAE_OF[a[0]] == VAE_OF[b[0]]
      if paired:
        seeds = sorted(set(runs[a]) & set(runs[b]))
        test = stats.paired_test([fid(runs[a][s], space) for s in seeds],
                                 [fid(runs[b][s], space) for s in seeds])
      else:
        test = stats.welch_test([fid(m, space) for m in runs[a].values()],
                                [fid(m, space) for m in runs[b].values()])
      if test is not None:
        rows.append({'claim': claim, 'space': space, 'paired': paired, 'test': test})
  return stats.adjust(rows, family=lambda row: 'the table')


def _mean_se(values, digits):
  return stats.format_mean_se(stats.mean_se(values), digits)


def table(runs: dict) -> str:
  """One row per prior: its VAE, seeds, FID per feature space, test bits/dim (IW bound) and
  the training seconds and median step milliseconds of the phase that trained it."""
  sp = spaces(runs)
  lines = ['| prior | samples through | seeds | ' + ' | '.join(f'FID {s}' for s in sp)
           + ' | test bits/dim (IW) | training s | ms / step |',
           '|' + '---|' * (6 + len(sp))]
  for row in (r for r in (NONE, SECOND, REALNVP, MAF, JOINT_REALNVP, JOINT_MAF) if r in runs):
    seeds = runs[row]
    cells = [LABELS[row], VAE_OF[row[0]], str(len(seeds))]
    cells += [_mean_se([fid(m, s) for m in seeds.values()], 1) for s in sp]
    cells.append(_mean_se([m.get(keys.TEST_BPD_IW) for m in seeds.values()], 3))
    cells.append(_mean_se([m.get('training_seconds') for m in seeds.values()], 0))
    steps = [m.get('median_step_seconds') for m in seeds.values()]
    cells.append(_mean_se([None if s is None else 1000 * s for s in steps], 1))
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def contrasts_table(rows: list[dict]) -> str:
  lines = ['| claim | feature space | test | effect (a - b) +- SE | seeds | p | Holm p | verdict |',
           '|---|---|---|---|---|---|---|---|']
  for r in rows:
    t = r['test']
    seeds = str(t.n[0]) if r['paired'] else f'{t.n[0]}, {t.n[1]}'
    lines.append(f"| {r['claim']} | {r['space']} | {'paired' if r['paired'] else 'Welch'} | "
                 f'{t.effect:+.1f} +- {t.se:.1f} | {seeds} | {t.p:.4f} | {r["adjusted_p"]:.4f} | '
                 f"{r['verdict']} |")
  return '\n'.join(lines) + '\n'


def markdown(runs: dict) -> str:
  """RESULTS/table.md: the table, then the contrasts with their Holm-adjusted verdicts."""
  rows = contrasts(runs)
  return ('Latent priors of scalar-gamma VAEs, FID of samples through the decoder means '
          '(mean +- SE over seeds; the times are of the phase that trained the row: the prior, '
          'or the VAE for the jointly trained ones):\n\n' + table(runs)
          + f'\nContrasts (negative favours the claim). Rows that sample through one VAE are '
          f'paired by seed (t test on the differences, n - 1 degrees of freedom); rows of two '
          f'VAEs are compared by Welch\'s t test. Holm\'s adjustment runs over all {len(rows)} '
          f'contrasts below, so the chance of one or more false "holds" or "reversed" in this '
          f'table is at most 5%:\n\n' + contrasts_table(rows))
