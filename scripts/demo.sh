#!/usr/bin/env bash
# The quick Fashion-MNIST demo: phase 1 (VAE + flow prior), then phase 2 (Glow layer
# on the frozen VAE). Usage: bash scripts/demo.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
workdir=${1:-workdirs/fashion_mnist_quick}
config=experiments/configs/fashion_mnist.py:quick
start=$(date +%s)
for phase in vae glow; do
  echo "== phase $phase =="
  steps=1200; [ "$phase" = glow ] && steps=500
  .venv/bin/python -m experiments.train --config="$config" --workdir="$workdir" --config.phase="$phase" \
      --config.num_train_steps=$steps
done
echo "done in $(( $(date +%s) - start )) s"
echo "samples:  $workdir/vae/samples/  $workdir/glow/samples/"
echo "metrics:  .venv/bin/tensorboard --logdir $workdir   (resolved configs: $workdir/<phase>/config.json)"
