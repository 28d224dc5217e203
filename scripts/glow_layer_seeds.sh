#!/usr/bin/env bash
# The issue-12 criterion at the README demo's budget, over phase-1 seeds: experiments/recipes.py
# 'glow_layer_seeds' (per seed the demo's two phases, the Glow layer evaluated on 2,000 test images
# and 2,000 samples at T = 0, 0.5, 1; each run copied and the table written to
# results/fashion_mnist/glow_layer_seeds_today/, beside round 3's glow_layer_seeds/ that this
# script wrote at 343c711). About 15 min per seed on 2 CPU cores; a rerun skips what is done.
# The same as `bash scripts/results.sh seeds`. Usage: bash scripts/glow_layer_seeds.sh [SEED...]   (default: 0 1 2)
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=$(IFS=,; echo "$*")
exec .venv/bin/python -m experiments.pipeline glow_layer_seeds ${seeds:+--seeds=$seeds}
