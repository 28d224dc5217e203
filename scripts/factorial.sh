#!/usr/bin/env bash
# The science round-3 factorial: experiments/recipes.py 'factorial' (what is trained, at which
# budget, how it is evaluated), run by experiments.pipeline, which skips finished stages.
# Usage: bash scripts/factorial.sh [SEED...]   (default: 0 1); the table: scripts/results.sh factorial
# The environment of earlier rounds still works: ROOT, OUT, FEATURES, FEATURES2, CELLS, VAE_STEPS,
# GLOW_STEPS, CFG, and TRAIN_ARGS / EVAL_ARGS as --config.KEY=VALUE flags for every train / evaluation.
# Rehearsal (tiny): CFG=tests/configs/tiny.py VAE_STEPS=6 GLOW_STEPS=6 ROOT=/tmp/f OUT=/tmp/f/out \
#   FEATURES=/tmp/f/fe FEATURES2=/tmp/f/fe2 EVAL_ARGS="--config.eval.max_test_examples=32 \
#   --config.eval.num_fid_samples=24 --config.eval.iw_samples=2" bash scripts/factorial.sh 0
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for a in ${TRAIN_ARGS:-}; do args+=("--train_arg=${a#--config.}"); done
for a in ${EVAL_ARGS:-}; do args+=("--eval_arg=${a#--config.}"); done
seeds=$(IFS=,; echo "$*")
cells=$(echo ${CELLS:-} | tr ' ' ,)
exec ${PY:-.venv/bin/python} -m experiments.pipeline ${RECIPE:-factorial} ${seeds:+--seeds=$seeds} \
  ${cells:+--cells=$cells} --root=${ROOT:-workdirs/factorial} --out=${OUT:-results/fashion_mnist/factorial} \
  --train_config=${CFG:-experiments/configs/fashion_mnist.py:quick} \
  --features=${FEATURES:-workdirs/feature_extractor/fashion_mnist} \
  --features2=${FEATURES2:-workdirs/feature_extractor/fashion_mnist_pooled} \
  --vae_steps=${VAE_STEPS:-0} --glow_steps=${GLOW_STEPS:-0} ${args[@]+"${args[@]}"}
