#!/usr/bin/env bash
# The Glow-layer ablation (issue 12): experiments/recipes.py 'ablation' (phase-2 variants trained
# on ONE frozen phase-1 VAE, each evaluated the same way), run by experiments.pipeline, which
# skips finished stages. Each variant trains into OUT_ROOT/<variant> with
# --config.stage1_workdir=PHASE1_WORKDIR.
# Usage: bash scripts/ablation.sh PHASE1_WORKDIR OUT_ROOT [VARIANT...]   (default: all variants)
#        bash scripts/ablation.sh --list   (the variants, in order: the one list results.sh reads)
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
if [[ ${1:-} == --list ]]; then
  exec $py -c "from experiments import recipes; print(' '.join(recipes.ABLATION))"
fi
stage1=$1 out=$2; shift 2
variants=$(IFS=,; echo "$*")
exec $py -m experiments.pipeline ablation --stage1="$stage1" --root="$out" --out= \
  --features=${FEATURES:-workdirs/feature_extractor/fashion_mnist} ${variants:+--variants=$variants}
