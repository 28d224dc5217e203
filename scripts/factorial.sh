#!/usr/bin/env bash
# The science round-3 factorial (Fashion-MNIST, quick preset): decoder variance {gamma, diagonal}
# x phase-1 prior {N(0, I) 'standard', joint 'flow'} x seeds. Per VAE: phase 1 (600 steps: half the
# main table's 1,200, so that 2 seeds x 4 cells fit in one session on 2 cores), a post-hoc flow
# prior on the frozen VAE (as many steps), a 250-step Glow layer; then evaluated as four chains: the decoder means from the VAE's own prior ('vae'),
# from the post-hoc prior ('prior'), the Glow layer from the VAE's own prior ('glow') and from the
# post-hoc prior ('glow+prior', eval.prior_phase). Evaluation: 2,000 test images (IW K=4), 2,000
# samples at T = 0, 0.25, 0.5, 0.75, scored in two classifiers' feature spaces (strided CNN seed 0,
# pooled CNN seed 1) against the first 2,000 test images.
# Resumable: a finished stage (its checkpoint at the last step, its metrics entry) is skipped.
# Each run's metrics, configs and figures are copied to results/fashion_mnist/factorial/ as soon
# as it is evaluated, with each stage's seconds in runs.tsv.
# Usage: bash scripts/factorial.sh [SEED...]   (default: 0 1); the table: scripts/results.sh factorial
# CELLS='gamma_standard diagonal_flow' runs only those cells (the budget-direction runs of results.sh);
# TRAIN_ARGS and EVAL_ARGS are appended to every training and evaluation command.
# Rehearsal (tiny): CFG=tests/configs/tiny.py VAE_STEPS=6 GLOW_STEPS=6 ROOT=/tmp/f \
#   OUT=/tmp/f/out FEATURES=/tmp/f/fe FEATURES2=/tmp/f/fe2 EVAL_ARGS="--config.eval.max_test_examples=32 \
#   --config.eval.num_fid_samples=24 --config.eval.iw_samples=2" bash scripts/factorial.sh 0
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/copy_run.sh
py=${PY:-.venv/bin/python}
cfg=${CFG:-experiments/configs/fashion_mnist.py:quick}
vae_steps=${VAE_STEPS:-600}
glow_steps=${GLOW_STEPS:-250}
root=${ROOT:-workdirs/factorial}
out=${OUT:-results/fashion_mnist/factorial}
features=${FEATURES:-workdirs/feature_extractor/fashion_mnist}
features2=${FEATURES2:-workdirs/feature_extractor/fashion_mnist_pooled}
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(0 1)
cells=${CELLS:-gamma_standard gamma_flow diagonal_standard diagonal_flow}
mkdir -p "$out"
log() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$out/runs.tsv"; }
timed() {  # timed NAME COMMAND...: runs it and logs its wall seconds
  local name=$1; shift; local start=$SECONDS
  "$@"; log "$name" "$((SECONDS - start))" "$(date -u +%FT%TZ)"
}

[ -f "$features/feature_extractor.json" ] || timed features $py -m experiments.train_feature_extractor \
    --config=$cfg --workdir=$features
[ -f "$features2/feature_extractor.json" ] || timed features2 $py -m experiments.train_feature_extractor \
    --config=$cfg --workdir=$features2 --config.feature_extractor.arch=pooled --config.feature_extractor.seed=1

done_training() { [ -d "$1/$2/checkpoints/$3" ]; }
evaluated() { $py -c "import json,sys; sys.exit(0 if '$2' in json.load(open('$1/eval/metrics.json')) else 1)" 2>/dev/null; }
evaluate() {  # evaluate WORKDIR PHASE [PRIOR_PHASE]
  local name=$2${3:++$3}
  evaluated "$1" "$name" || timed "$1 eval $name" $py -m experiments.evaluate --workdir="$1" --config.phase=$2 \
      --config.eval.prior_phase="${3:-}" --config.eval.feature_extractor_dir=$features \
      --config.eval.feature_extractor_dir_2=$features2 --config.eval.iw_samples=4 \
      --config.eval.max_test_examples=2000 --config.eval.num_fid_samples=2000 \
      "--config.eval.temperatures=(0.0,0.25,0.5,0.75)" ${EVAL_ARGS:-}
}

for seed in "${seeds[@]}"; do
  for cell in $cells; do
    variance=${cell%_*} prior=${cell#*_}
    run=$cell/seed$seed
    workdir=$root/$run
    model=(--config.seed=$seed --config.model.variance=$variance --config.num_train_steps=$vae_steps)
    done_training $workdir vae $vae_steps || timed "$run vae" $py -m experiments.train --config=$cfg \
        --workdir=$workdir --config.phase=vae "${model[@]}" --config.model.prior.kind=$prior ${TRAIN_ARGS:-}
    done_training $workdir prior $vae_steps || timed "$run prior" $py -m experiments.train --config=$cfg \
        --workdir=$workdir --config.phase=prior "${model[@]}" --config.model.prior.kind=flow ${TRAIN_ARGS:-}
    done_training $workdir glow $glow_steps || timed "$run glow" $py -m experiments.train --config=$cfg \
        --workdir=$workdir --config.phase=glow "${model[@]}" --config.model.prior.kind=$prior \
        --config.num_train_steps=$glow_steps ${TRAIN_ARGS:-}
    evaluate $workdir vae
    evaluate $workdir prior
    evaluate $workdir glow
    evaluate $workdir glow prior
    copy_run $workdir $out/$run prefixed "vae prior glow" \
        "$(echo {vae,prior,glow,glow+prior}/{samples_T0.png,samples_T0.5.png,decoder_mean_vs_glow.png})"
  done
done
