r"""Writes a Markdown results table from evaluated work directories.

  python -m experiments.report workdirs/results/vae_gamma workdirs/results/full ... [--out=TABLE.md]

Reads WORKDIR/eval/metrics.json (written by experiments.evaluate) of each directory, one
row per evaluated phase. Prints the table; with --out also writes it to that file.
With --ablation: one line per Glow-layer run instead (scripts/ablation.sh).
"""

import sys

from absl import app, flags

_OUT = flags.DEFINE_string('out', '', 'Also write the table to this Markdown file.')
_ABLATION = flags.DEFINE_bool('ablation', False, 'Glow-layer runs on one phase-1 VAE: print one '
                              'line per run (recipe, bounds, FID of x, x_tilde and decoder mean).')


def main(argv):
  from vaeglow_jax import report
  workdirs = argv[1:]
  if not workdirs:
    raise app.UsageError('give at least one work directory (evaluated with experiments.evaluate).')
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
  print(text)
  if _OUT.value:
    with open(_OUT.value, 'w') as f:
      f.write(text)


def _comparison(rows):
  from vaeglow_jax import report
  text = report.markdown_table(rows)
  sweep = report.temperature_table(rows)
  if sweep:
    text += '\nFID by sampling temperature:\n\n' + sweep
  layer = report.glow_layer_table(rows)
  if layer:
    text += '\nWhat the Glow layer adds (same noise before and after it):\n\n' + layer
  return text


if __name__ == '__main__':
  app.run(main)
