"""The comparison of scripts/compare_commits.sh: bitwise-equal checkpoints, equal metrics.json."""
import os, sys
import numpy as np
import orbax.checkpoint as ocp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
from vaeglow_jax.io import workdir as workdir_lib  # noqa: E402

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
def restore_whole(path):
  """A checkpoint's arrays, each whole on this process's first device, whatever devices saved
  it (the CPU levers save over several; this process has one)."""
  import jax
  checkpointer = ocp.StandardCheckpointer()
  local = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.tree_util.tree_map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=local),
                                    checkpointer.metadata(path).item_metadata.tree)
  return checkpointer.restore(path, abstract)


failures = []
for phase in ('vae', 'glow'):
  trees = {}
  for side in ('old', 'new'):
    directory = os.path.join(out, f'run_{side}', phase, 'checkpoints')
    step = max(int(s) for s in os.listdir(directory) if s.isdigit())
    trees[side] = dict(leaves(restore_whole(os.path.join(directory, str(step), 'default'))))
  same = trees['old'].keys() == trees['new'].keys() and all(
      np.array_equal(trees['old'][k], trees['new'][k]) for k in trees['old'])
  print(f'{phase} checkpoint: {len(trees["old"])} arrays, bitwise equal: {same}')
  failures += [] if same else [phase]
metrics = {}
for side in ('old', 'new'):
  metrics[side] = workdir_lib.read_metrics(os.path.join(out, f'eval_by_{side}'))['glow']
timing = {'seconds_per_epoch', 'training_seconds', 'median_step_seconds', 'seconds_per_epoch_phase1',
          'total_training_seconds', 'seconds_per_epoch_mean_of_phases', 'eval_seconds'}
text = {'notes'}  # messages for the reader (they name files, which may move): shown, not compared


def flat(tree, prefix=''):
  """{'a.b': leaf} of a nested dict."""
  out = {}
  for key, value in tree.items():
    name = f'{prefix}{key}'
    out.update(flat(value, name + '.') if isinstance(value, dict) else {name: value})
  return out


old_flat, new_flat = (flat({k: v for k, v in metrics[side].items() if k not in timing | text})
                      for side in ('old', 'new'))
keys = set(old_flat) & set(new_flat)
differ = sorted(k for k in keys if old_flat[k] != new_flat[k])
# Keys one side writes and the other does not (a measure added since) are listed, not failures.
added, dropped = sorted(set(new_flat) - set(old_flat)), sorted(set(old_flat) - set(new_flat))
print(f'metrics.json of the old work directory: {len(keys)} values compared (timings and notes '
      f'aside), differing: {differ}; only in the new: {added}; only in the old: {dropped}')
for key in sorted(text):
  if metrics['old'].get(key) != metrics['new'].get(key):
    print(f'{key} (not compared): old {metrics["old"].get(key)!r}; new {metrics["new"].get(key)!r}')
sys.exit(1 if failures or differ else 0)
