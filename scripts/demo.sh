#!/usr/bin/env bash
# The quick Fashion-MNIST demo (experiments/recipes.py, 'demo'): phase 1 (VAE + flow prior), then
# phase 2 (Glow layer on the frozen VAE); a rerun skips what is done. Usage: bash scripts/demo.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
workdir=${1:-workdirs/fashion_mnist_quick}
start=$(date +%s)
.venv/bin/python -m experiments.pipeline demo --root="$workdir"
echo "done in $(( $(date +%s) - start )) s"
echo "samples:  $workdir/vae/samples/  $workdir/glow/samples/"
echo "metrics:  .venv/bin/tensorboard --logdir $workdir   (resolved configs: $workdir/<phase>/config.json)"
