#!/usr/bin/env bash
# Behaviour unchanged across a refactor: the README demo's two phases (quick preset, shortened to
# VAE_STEPS / GLOW_STEPS, same seed) trained at OLD_REF and at NEW_REF must give bitwise-equal
# checkpoints, and NEW_REF's experiments.evaluate on OLD_REF's work directory must write the
# metrics OLD_REF's evaluate writes, timings aside.
# Usage: bash scripts/compare_commits.sh OLD_REF [NEW_REF]   (FEATURES=DIR adds FID in that space)
# NEW_FLAGS: training flags for NEW_REF's side only, to switch off a change that alters float
# rounding on purpose. Against a commit older than the CPU levers (conv_impl='auto', cpu_devices):
#   NEW_FLAGS="--config.model.conv_impl=xla --config.cpu_devices=1"
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=$1 new_ref=${2:-HEAD}
vae_steps=${VAE_STEPS:-40} glow_steps=${GLOW_STEPS:-20}
read -r -a new_flags <<< "${NEW_FLAGS:-}"
py=$PWD/.venv/bin/python
out=$(mktemp -d)
trap 'git worktree remove --force "$out/old"; git worktree remove --force "$out/new"' EXIT
git worktree add --detach -q "$out/old" "$old_ref"
git worktree add --detach -q "$out/new" "$new_ref"
for side in old new; do
  for phase in vae glow; do
    steps=$vae_steps; [ $phase = glow ] && steps=$glow_steps
    extra=(); [ $side = new ] && extra=("${new_flags[@]}")
    (cd "$out/$side" && $py -m experiments.train --config=experiments/configs/fashion_mnist.py:quick \
        --workdir="$out/run_$side" --config.phase=$phase --config.num_train_steps=$steps \
        --config.checkpoint_every_steps=$steps "${extra[@]}" > "$out/train_${side}_$phase.log" 2>&1)
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
$py scripts/compare_runs.py "$out"
