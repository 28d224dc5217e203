#!/usr/bin/env bash
# Behaviour unchanged across a refactor: the README demo's two phases (quick preset, shortened to
# VAE_STEPS / GLOW_STEPS, same seed) trained at OLD_REF and at NEW_REF must give bitwise-equal
# checkpoints, and NEW_REF's experiments.evaluate on OLD_REF's work directory must write the
# metrics OLD_REF's evaluate writes, timings aside.
# Usage: bash scripts/compare_commits.sh OLD_REF [NEW_REF]   (FEATURES=DIR adds FID in that space)
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=$1 new_ref=${2:-HEAD}
vae_steps=${VAE_STEPS:-40} glow_steps=${GLOW_STEPS:-20}
py=$PWD/.venv/bin/python
out=$(mktemp -d)
trap 'git worktree remove --force "$out/old"; git worktree remove --force "$out/new"' EXIT
git worktree add --detach -q "$out/old" "$old_ref"
git worktree add --detach -q "$out/new" "$new_ref"
for side in old new; do
  for phase in vae glow; do
    steps=$vae_steps; [ $phase = glow ] && steps=$glow_steps
    (cd "$out/$side" && $py -m experiments.train --config=experiments/configs/fashion_mnist.py:quick \
        --workdir="$out/run_$side" --config.phase=$phase --config.num_train_steps=$steps \
        --config.checkpoint_every_steps=$steps > "$out/train_${side}_$phase.log" 2>&1)
  done
done
eval_args=(--config.phase=glow --config.eval.max_test_examples=256 --config.eval.num_fid_samples=128
           --config.eval.iw_samples=2 "--config.eval.temperatures=(0.0,0.5)"
           --config.eval.feature_extractor_dir="${FEATURES:-}")
for side in old new; do  # both commits evaluate the work directory the old commit trained
  cp -r "$out/run_old" "$out/eval_by_$side"
  (cd "$out/$side" && $py -m experiments.evaluate --workdir="$out/eval_by_$side" "${eval_args[@]}" \
      > "$out/eval_$side.log" 2>&1)
done
$py - "$out" <<'PY'
import json, os, sys
import numpy as np
import orbax.checkpoint as ocp
out = sys.argv[1]
def leaves(tree, prefix=''):
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from leaves(v, f'{prefix}/{k}')
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
          'total_training_seconds', 'seconds_per_epoch_mean_of_phases', 'evaluation_seconds'}
keys = (set(metrics['old']) | set(metrics['new'])) - timing
differ = sorted(k for k in keys if metrics['old'].get(k) != metrics['new'].get(k))
print(f'metrics.json of the old work directory: {len(keys)} keys compared (timings aside), differing: {differ}')
sys.exit(1 if failures or differ else 0)
PY
