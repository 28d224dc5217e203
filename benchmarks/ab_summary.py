"""Summarises benchmarks/ab_commits.sh: per number, the median over rounds of old and new.

Usage: python -m benchmarks.ab_summary OUTDIR [--keys=SUBSTRING,...]
Prints `key  old  new  new/old` for every numeric leaf found in all old_*.json and new_*.json
files (keys joined by '/'), and writes OUTDIR/summary.json.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import sys

_LABELS = ('dataset', 'phase', 'batch', 'preset', 'height', 'cin', 'cout', 'kernel')


def _flatten(node, prefix: str, out: dict[str, float]) -> None:
  if isinstance(node, dict):
    for key, value in node.items():
      _flatten(value, f'{prefix}/{key}' if prefix else str(key), out)
  elif isinstance(node, list):
    for i, value in enumerate(node):
      # Rows of a results list are named by what they measure, else by position.
      label = ':'.join(str(value[k]) for k in _LABELS if isinstance(value, dict) and k in value)
      _flatten(value, f'{prefix}[{label or i}]', out)
  elif isinstance(node, (int, float)) and not isinstance(node, bool):
    out[prefix] = float(node)


def numeric_leaves(path: str) -> dict[str, float]:
  out = {}
  with open(path) as f:
    _flatten(json.load(f), '', out)
  return out


def summarize(out_dir: str, key_filters: list[str]) -> dict[str, dict[str, float]]:
  sides = {}
  for side in ('old', 'new'):
    files = sorted(glob.glob(os.path.join(out_dir, f'{side}_*.json')))
    if not files:
      raise SystemExit(f'error: no {side}_*.json in {out_dir}; run benchmarks/ab_commits.sh first.')
    sides[side] = [numeric_leaves(f) for f in files]
  keys = set.intersection(*(set(r) for runs in sides.values() for r in runs))
  rows = {}
  for key in sorted(keys):
    if key_filters and not any(s in key for s in key_filters):
      continue
    old = statistics.median(r[key] for r in sides['old'])
    new = statistics.median(r[key] for r in sides['new'])
    rows[key] = {'old': old, 'new': new, 'new_over_old': new / old if old else float('nan'),
                 'rounds': len(sides['new'])}
  return rows


def main(argv: list[str]) -> None:
  out_dir = argv[1]
  filters = [a.split('=', 1)[1].split(',') for a in argv[2:] if a.startswith('--keys=')]
  rows = summarize(out_dir, filters[0] if filters else [])
  for key, r in rows.items():
    print(f"{key}  {r['old']:.6g}  {r['new']:.6g}  {r['new_over_old']:.3f}")
  with open(os.path.join(out_dir, 'summary.json'), 'w') as f:
    json.dump(rows, f, indent=1)


if __name__ == '__main__':
  main(sys.argv)
