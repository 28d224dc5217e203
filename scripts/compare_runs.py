"""The comparison of scripts/compare_commits.sh: bitwise-equal checkpoints, equal metrics.json."""
import json, os, sys
import numpy as np
import orbax.checkpoint as ocp
out = sys.argv[1]  # the folder scripts/compare_commits.sh made
def leaves(tree, prefix=''):
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from leaves(v, f'{prefix}/{k}')
  elif isinstance(tree, (list, tuple)):
    for i, v in enumerate(tree):
      yield from leaves(v, f'{prefix}[{i}]')
  else:
    yield prefix, np.asarray(tree)
failures = []
for phase in ('vae', 'glow'):
  trees = {}
  for side in ('old', 'new'):
    directory = os.path.join(out, f'run_{side}', phase, 'checkpoints')
    step = max(int(s) for s in os.listdir(directory) if s.isdigit())
    trees[side] = dict(leaves(ocp.StandardCheckpointer().restore(os.path.join(directory, str(step), 'default'))))
  same = trees['old'].keys() == trees['new'].keys() and all(
      np.array_equal(trees['old'][k], trees['new'][k]) for k in trees['old'])
  print(f'{phase} checkpoint: {len(trees["old"])} arrays, bitwise equal: {same}')
  failures += [] if same else [phase]
metrics = {}
for side in ('old', 'new'):
  with open(os.path.join(out, f'eval_by_{side}', 'eval', 'metrics.json')) as f:
    metrics[side] = json.load(f)['glow']
timing = {'seconds_per_epoch', 'training_seconds', 'median_step_seconds', 'seconds_per_epoch_phase1',
          'total_training_seconds', 'seconds_per_epoch_mean_of_phases', 'eval_seconds'}
text = {'notes'}  # messages for the reader (they name files, which may move): shown, not compared
keys = (set(metrics['old']) | set(metrics['new'])) - timing - text
differ = sorted(k for k in keys if metrics['old'].get(k) != metrics['new'].get(k))
print(f'metrics.json of the old work directory: {len(keys)} keys compared (timings and notes aside), '
      f'differing: {differ}')
for key in sorted(text):
  if metrics['old'].get(key) != metrics['new'].get(key):
    print(f'{key} (not compared): old {metrics["old"].get(key)!r}; new {metrics["new"].get(key)!r}')
sys.exit(1 if failures or differ else 0)
