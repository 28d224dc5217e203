#!/usr/bin/env bash
# Science round 4 (issue 46): the budget direction over three seeds, experiments/recipes.py
# 'budget' (the best chain's cell and the paper's at 4x the factorial's phase-1 and 8x its
# Glow-layer steps, CPU levers off as seed 0 was trained), at low priority; a rerun skips finished
# stages. Usage: bash scripts/budget_seeds.sh [SEED...]   (default: 1 2); ROOT=... to continue elsewhere.
# Then: python -m experiments.report --factorial=results/fashion_mnist/budget \
#           --out=results/fashion_mnist/budget/seeds.md
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(1 2)
RECIPE=budget ROOT=${ROOT:-workdirs/budget} OUT=${OUT:-results/fashion_mnist/budget} \
  exec nice -n 19 ionice -c 3 bash scripts/factorial.sh "${seeds[@]}"
