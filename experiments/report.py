r"""Writes a Markdown results table from evaluated work directories.

  python -m experiments.report workdirs/results/vae_gamma workdirs/results/full ... [--out=TABLE.md]

Reads WORKDIR/eval/metrics.json (written by experiments.evaluate) of each directory, one
row per evaluated phase. Prints the table; with --out also writes it to that file.
"""

import sys

from absl import app, flags

_OUT = flags.DEFINE_string('out', '', 'Also write the table to this Markdown file.')


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
  text = report.markdown_table(rows)
  sweep = report.temperature_table(rows)
  if sweep:
    text += '\nFID by sampling temperature:\n\n' + sweep
  layer = report.glow_layer_table(rows)
  if layer:
    text += '\nWhat the Glow layer adds (same noise before and after it):\n\n' + layer
  print(text)
  if _OUT.value:
    with open(_OUT.value, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  app.run(main)
