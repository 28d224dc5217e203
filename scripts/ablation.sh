#!/usr/bin/env bash
# The Glow-layer ablation (issue 12): phase-2 variants trained on ONE frozen phase-1 VAE, each
# evaluated the same way (2,000 test images for the bounds, IW K=4; 2,000 samples for FID/KID
# at T = 0, 0.5, 1, classifier feature space).
# Usage: bash scripts/ablation.sh PHASE1_WORKDIR OUT_ROOT [VARIANT...]   (default: all variants)
#        bash scripts/ablation.sh --list   (the variants, in order: the one list results.sh reads)
# Each variant trains into OUT_ROOT/<variant> with --config.stage1_workdir=PHASE1_WORKDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
cfg=experiments/configs/fashion_mnist.py:quick
features=${FEATURES:-workdirs/feature_extractor/fashion_mnist}
declare -A variants=(
  [base]=""                                              # quick preset: shuffle, width 128, additive, lr 5e-4, 500 steps
  [mixing_none]="--config.model.glow.mixing=none"
  [mixing_reverse]="--config.model.glow.mixing=reverse"
  [width32]="--config.model.glow.hidden=32"
  [width256]="--config.model.glow.hidden=256"
  [affine]="--config.model.glow.coupling=affine"
  [lr2e-3]="--config.learning_rate=2e-3"
  # The budget curve halves the learning rate every 4 epochs, not every epoch (the preset's):
  # 8,000 steps are 9.3 epochs, and halving every epoch would leave 1e-6 for the last ones.
  [steps2000]="--config.num_train_steps=2000 --config.lr_halve_every_epochs=4"
  [steps8000]="--config.num_train_steps=8000 --config.lr_halve_every_epochs=4"
)
order=(base mixing_none mixing_reverse width32 width256 affine lr2e-3 steps2000 steps8000)
if [[ ${1:-} == --list ]]; then echo "${order[@]}"; exit 0; fi
stage1=$1; out=$2; shift 2
(( $# )) && order=("$@")
for name in "${order[@]}"; do
  [[ -v "variants[$name]" ]] || { echo "error: unknown variant $name; known: ${!variants[*]}" >&2; exit 2; }
  flags=(${variants[$name]})
  dir=$out/$name
  echo "== $name: ${flags[*]:-(quick preset)} =="
  $py -m experiments.train --config=$cfg --workdir=$dir --config.phase=glow \
      --config.stage1_workdir=$stage1 --config.num_train_steps=500 "${flags[@]}"
  # evaluate reads the training config (overrides included) from $dir/glow/config.json
  $py -m experiments.evaluate --workdir=$dir --config.phase=glow \
      --config.eval.feature_extractor_dir=$features --config.eval.iw_samples=4 \
      --config.eval.max_test_examples=2000 --config.eval.num_fid_samples=2000 \
      "--config.eval.temperatures=(0.0, 0.5, 1.0)"
done
