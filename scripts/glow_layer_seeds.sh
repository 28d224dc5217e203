#!/usr/bin/env bash
# The issue-12 criterion at the README demo's budget, over phase-1 seeds. Per seed: the demo's two
# phases (1,200 VAE steps, then 500 Glow-layer steps on the frozen VAE) with --config.seed=SEED,
# then experiments.evaluate (2,000 test images, IW K=4; 2,000 samples at T = 0, 0.5 and 1, scored
# in the offline classifier's features against the first 2,000 test images).
# Writes the table (experiments.report --ablation) and each run's metrics, config and figures to
# results/fashion_mnist/glow_layer_seeds/. About 15 min per seed on 2 CPU cores.
# Usage: bash scripts/glow_layer_seeds.sh [SEED...]   (default: 0 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/copy_run.sh
py=.venv/bin/python
cfg=experiments/configs/fashion_mnist.py:quick
root=workdirs/glow_layer_seeds
features=workdirs/feature_extractor/fashion_mnist
out=results/fashion_mnist/glow_layer_seeds
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
[ -f "$features/feature_extractor.json" ] || $py -m experiments.train_feature_extractor --config=$cfg --workdir=$features
for seed in "${seeds[@]}"; do
  workdir=$root/seed$seed
  $py -m experiments.train --config=$cfg --workdir=$workdir --config.seed=$seed --config.phase=vae --config.num_train_steps=1200
  $py -m experiments.train --config=$cfg --workdir=$workdir --config.seed=$seed --config.phase=glow --config.num_train_steps=500
  $py -m experiments.evaluate --workdir=$workdir --config.phase=glow --config.eval.feature_extractor_dir=$features \
      --config.eval.iw_samples=4 --config.eval.max_test_examples=2000 --config.eval.num_fid_samples=2000 \
      "--config.eval.temperatures=(0.0,0.5,1.0)"
  copy_run $workdir $out/seed$seed flat glow "$(echo glow/{decoder_mean_vs_glow,samples_T0,samples_T0.5}.png)"
done
$py -m experiments.report --ablation $(printf "$root/seed%s " "${seeds[@]}") --out=$out/table.md
