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

from flax import traverse_util


def numeric_leaves(path: str) -> dict[str, float]:
  with open(path) as f:
    flat = traverse_util.flatten_dict(json.load(f), sep='/')
  return {k: float(v) for k, v in flat.items()
          if isinstance(v, (int, float)) and not isinstance(v, bool)}


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
