r"""Writes a Markdown results table from evaluated work directories.

  python -m experiments.report workdirs/results/vae_gamma workdirs/results/full ... [--out=TABLE.md]

Reads WORKDIR/eval/metrics.json (written by experiments.evaluate) of each directory, one
row per evaluated phase. Prints the table; with --out also writes it to that file.
With --ablation: one line per Glow-layer run instead (scripts/ablation.sh).
"""

import os
import sys

from absl import flags

from experiments import cli

_OUT = flags.DEFINE_string('out', '', 'Also write the table to this Markdown file.')
_FACTORIAL = flags.DEFINE_string('factorial', '', 'A folder of scripts/factorial.sh results '
                                 '(<variance>_<prior>/seed<S>/metrics.json): print its chains table '
                                 'and paired contrasts instead (no work directories).')
_BUDGET = flags.DEFINE_string('budget', '', 'With --factorial: a folder of the same layout from a '
                              'larger training budget; print, for --seed, each comparison at both '
                              'budgets and whether its sign is kept.')
_SEED = flags.DEFINE_integer('seed', 0, 'The seed --budget compares.')
_SEEDS = flags.DEFINE_list('seeds', [], 'With --factorial: only these seeds (e.g. 0,1,2: the table '
                           'of an earlier round); default: every seed found.')
_CALIBRATION = flags.DEFINE_string('calibration', '', 'A fid_calibration.json '
                                   '(experiments.fid_calibration): print its table per feature '
                                   'space instead.')
_TABLE1 = flags.DEFINE_string('table1', '', 'The results folder of the table1 recipe '
                              '(<folder>/seed<S>/metrics.json): print the paper\'s Table 1 over '
                              'seeds with its Holm-adjusted verdicts instead.')
_ABLATION = flags.DEFINE_bool('ablation', False, 'Glow-layer runs on one phase-1 VAE: print one '
                              'line per run (recipe, bounds, FID of x, x_tilde and decoder mean).')


def main(argv):
  from vaeglow_jax.evaluation import report
  if _CALIBRATION.value:
    from vaeglow_jax import workdir as workdir_lib
    from vaeglow_jax.evaluation import calibration
    result = workdir_lib.read_json(_CALIBRATION.value)
    if result is None:
      cli.fail(f'no calibration at {_CALIBRATION.value}; run experiments.fid_calibration first.')
    return _write(''.join(f'{space}:\n\n' + calibration.markdown_table(result, space)
                          for space in result['spaces']))
  if _TABLE1.value:
    from experiments import table1
    runs = table1.load(_TABLE1.value)
    if not runs:
      cli.fail(f'no <folder>/seed<S>/metrics.json of the table1 recipe under {_TABLE1.value}; '
               'run python -m experiments.pipeline table1 first.')
    return _write(table1.markdown(runs))
  if _FACTORIAL.value and _BUDGET.value:
    return _write(_budget(_FACTORIAL.value, _BUDGET.value, _SEED.value))
  if _FACTORIAL.value:
    return _write(_factorial(_FACTORIAL.value))
  workdirs = argv[1:]
  if not workdirs:
    print('error: give at least one work directory (evaluated with experiments.evaluate), or '
          '--factorial=FOLDER.', file=sys.stderr)
    raise SystemExit(2)
  try:
    rows = report.load_rows(workdirs)
  except FileNotFoundError as e:
    print(f'error: {e}', file=sys.stderr)
    raise SystemExit(2) from e
  if _ABLATION.value:
    text = report.ablation_table(rows)
    if not text:
      print('error: none of these work directories has an evaluated glow phase.', file=sys.stderr)
      raise SystemExit(2)
  else:
    text = _comparison(rows)
  _write(text)


def _write(text):
  print(text)
  if _OUT.value:
    from vaeglow_jax import workdir as workdir_lib
    workdir_lib.write_text_atomic(_OUT.value, text)


def _budget(base_dir, larger_dir, seed):
  from vaeglow_jax.evaluation import factorial
  base, larger = factorial.load(base_dir), factorial.load(larger_dir)
  if not larger or not any(seed in seeds for seeds in larger.values()):
    print(f'error: no <variance>_<prior>/seed{seed}/metrics.json under {larger_dir}.',
          file=sys.stderr)
    raise SystemExit(2)
  # Columns named by folder: the smaller budget is not always the factorial's (budget16 vs budget).
  labels = tuple(f'at {os.path.basename(os.path.normpath(d))}/' for d in (base_dir, larger_dir))
  return (f'Seed {seed}: each comparison at the budget of {base_dir} and at the larger one of '
          f'{larger_dir}; negative favours the claim:\n\n'
          + factorial.budget_table(base, larger, seed, labels)
          + '\nThe runs themselves:\n\n' + factorial.budget_values_table(base, larger, seed, labels))


def _factorial(results_dir):
  from vaeglow_jax.evaluation import factorial
  runs = factorial.load(results_dir)
  if _SEEDS.value:
    try:
      wanted = {int(seed) for seed in _SEEDS.value}
    except ValueError:
      cli.fail(f'--seeds must be integers, got {",".join(_SEEDS.value)}.')
    runs = {cell: {seed: m for seed, m in seeds.items() if seed in wanted}
            for cell, seeds in runs.items()}
    runs = {cell: seeds for cell, seeds in runs.items() if seeds}
  if not runs:
    print(f'error: no <variance>_<prior>/seed<S>/metrics.json under {results_dir}; run '
          'scripts/factorial.sh first.', file=sys.stderr)
    raise SystemExit(2)
  text = ('Chains, mean +- SE over seeds (FID at T = 0 / 0.25 / 0.5 / 0.75 for Glow-layer chains):\n\n'
          + factorial.chains_table(runs)
          + '\nClaims, summed over their paired contrasts (verdict per contrast: the 95% t interval '
          'of the paired mean over seeds, n - 1 degrees of freedom, excludes 0; the seeds are the '
          'only independent replicates: the chains of one cell share its VAE and random draws, and '
          'both feature spaces score the same images):\n\n' + factorial.claims_table(runs)
          + '\nPaired contrasts (same seed, one factor changed; negative favours the claim):\n\n'
          + factorial.contrasts_table(runs)
          + '\nAcross cells (they share no VAE: unpaired, all seeds of each, Welch t test; '
          'negative favours the claim):\n\n' + factorial.unpaired_table(runs))
  for space in factorial.spaces(runs):
    best = factorial.best_chain(runs, space)
    if best:
      (variance, prior), chain, t, (mean, se, n) = best
      text += (f'\nBest chain by FID in {space}: {variance} variance, {prior} phase-1 prior, '
               f'{factorial.CHAIN_LABELS[chain]}, T={t}: {mean:.1f} (n={n}).\n')
      against = factorial.best_against_runner_up(runs, space)
      if against and against['effect']:
        (r_variance, r_prior), r_chain, r_t, (r_mean, _, _) = against['runner_up']
        d_mean, d_se, d_n = against['effect']
        text += (f'Against its runner-up ({r_variance} variance, {r_prior} phase-1 prior, '
                 f'{factorial.CHAIN_LABELS[r_chain]}, T={r_t}: {r_mean:.1f}), paired over '
                 f'{d_n} seeds: {d_mean:+.1f} +- {d_se:.1f}, {against["verdict"]}.\n')
  return text


def _comparison(rows):
  from vaeglow_jax.evaluation import report
  text = report.markdown_table(rows)
  sweep = report.temperature_table(rows)
  if sweep:
    text += '\nFID by sampling temperature:\n\n' + sweep
  layer = report.glow_layer_table(rows)
  if layer:
    text += '\nWhat the Glow layer adds (same noise before and after it):\n\n' + layer
  return text


if __name__ == '__main__':
  cli.run(main)
