r"""Writes a Markdown results table from evaluated work directories.

  python -m experiments.report workdirs/results/vae_gamma workdirs/results/full ... [--out=TABLE.md]

Reads WORKDIR/eval/metrics.json (written by experiments.evaluate) of each directory, one
row per evaluated phase. Prints the table; with --out also writes it to that file.
With --ablation: one line per Glow-layer run instead (the recipe `ablation`).
"""

import sys

from absl import flags

from vaeglow_jax.cli import common as cli

_OUT = flags.DEFINE_string('out', '', 'Also write the table to this Markdown file.')
_FACTORIAL = flags.DEFINE_string('factorial', '', "A folder of the factorial recipe's results "
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
_CRITERION = flags.DEFINE_string('criterion', '', 'A results folder of the glow_layer_seeds recipe '
                                  '(<folder>/seed<S>/metrics.json): print the Glow-layer criterion '
                                  'at T=0.5 over its seeds, paired t tests with Holm, instead.')
_TREND = flags.DEFINE_list('trend', [], 'Results folders of the factorial layout at growing budgets '
                           '(e.g. the factorial, budget and budget_x16 folders): print the gap '
                           "between the paper's chain and the best chain's cell at each (Welch, Holm "
                           'over the table) instead; with --out, also a plot (.png) beside it.')
_TREND_LABELS = flags.DEFINE_list('trend_labels', [], "With --trend: each folder's column head "
                                  '(default: the folder names).')
_ABLATION = flags.DEFINE_bool('ablation', False, 'Glow-layer runs on one phase-1 VAE: print one '
                              'line per run (recipe, bounds, FID of x, x_tilde and decoder mean).')


def main(argv):
  from vaeglow_jax.evaluation import report
  if _CALIBRATION.value:
    from vaeglow_jax.io import files as files_lib
    from vaeglow_jax.evaluation import calibration
    result = files_lib.read_json(_CALIBRATION.value)
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
  if _CRITERION.value:
    from experiments import glow_criterion
    runs = glow_criterion.load(_CRITERION.value)
    if not runs:
      cli.fail(f'no <folder>/seed<S>/metrics.json with a glow phase under {_CRITERION.value}; run '
               'python -m experiments.pipeline glow_layer_seeds first.')
    return _write(glow_criterion.markdown(runs))
  if _TREND.value:
    from experiments import factorial
    labels = _TREND_LABELS.value or [d.rstrip('/').rsplit('/', 1)[-1] for d in _TREND.value]
    if len(labels) != len(_TREND.value):
      cli.fail(f'--trend_labels has {len(labels)} labels for {len(_TREND.value)} --trend folders; '
               'give one per folder.')
    budgets = [(label, factorial.load(d)) for label, d in zip(labels, _TREND.value)]
    empty = [d for (_, runs), d in zip(budgets, _TREND.value) if not runs]
    if empty:
      cli.fail(f'no <variance>_<prior>/seed<S>/metrics.json under {", ".join(empty)}.')
    if _OUT.value:
      factorial.trend_figure(budgets, _OUT.value.rsplit('.', 1)[0] + '.png')
    return _write(factorial.trend_table(budgets))
  if _FACTORIAL.value and _BUDGET.value:
    from experiments import factorial
    return _write(factorial.budget_report(_FACTORIAL.value, _BUDGET.value, _SEED.value))
  if _FACTORIAL.value:
    try:
      seeds = {int(seed) for seed in _SEEDS.value} or None
    except ValueError:
      cli.fail(f'--seeds must be integers, got {",".join(_SEEDS.value)}.')
    from experiments import factorial
    text = factorial.report(_FACTORIAL.value, seeds)
    if text is None:
      cli.fail(f'no <variance>_<prior>/seed<S>/metrics.json under {_FACTORIAL.value}; run '
               'python -m experiments.pipeline factorial first.')
    return _write(text)
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
    from vaeglow_jax.io import files as files_lib
    files_lib.write_text_atomic(_OUT.value, text)




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
