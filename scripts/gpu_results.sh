#!/usr/bin/env bash
# The runs for a GPU lease (`device` tool, ~8 minutes of H200 time): the paper's chain
# (diagonal decoder variance, joint flow prior, Glow layer) and the factorial's best chain
# (gamma variance, N(0, I) prior, post-hoc flow prior + Glow layer), seed 0, Fashion-MNIST,
# quick preset, evaluated as the factorial's four chains with 10,000 samples per temperature
# against the 10,000 test images, in the two feature spaces of the CPU factorial (carried to the
# device, so the FIDs are in the same spaces). Each phase stops at its step budget or at
# MAX_SECONDS of training, whichever comes first (config.max_train_seconds; a final checkpoint
# is written), so the whole fits the lease; the steps reached are in each metrics.json
# (checkpoint_step) and runs.tsv has every stage's seconds. Results are copied after each cell
# (best chain first) to results/fashion_mnist_gpu/.
# Run on the device: bash scripts/gpu_results.sh
#   (carry: workdirs/feature_extractor; nothing else is needed from this machine)
# Rehearsal on CPU (tiny, ~3 min): PRESET=test MAX_SECONDS=20 VAE_STEPS=6 GLOW_STEPS=6 NUM=64 \
#   OUT=/tmp/gpu_rehearsal ROOT=/tmp/gpu_rehearsal/work bash scripts/gpu_results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${PRESET:-quick}
source scripts/gpu_python.sh
num=${NUM:-10000}
out=${OUT:-results/fashion_mnist_gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/device.txt" 2>/dev/null \
  || echo "no GPU (rehearsal)" > "$out/device.txt"
$py -m experiments.pipeline factorial --seeds=0 --cells=gamma_standard,diagonal_flow \
  --train_config=experiments/configs/fashion_mnist.py:$preset \
  --vae_steps=${VAE_STEPS:-40000} --glow_steps=${GLOW_STEPS:-40000} \
  --root=${ROOT:-workdirs/gpu_results} --out=$out \
  --features=${FEATURES:-workdirs/feature_extractor/fashion_mnist} \
  --features2=${FEATURES2:-workdirs/feature_extractor/fashion_mnist_pooled} \
  --train_arg=max_train_seconds=${MAX_SECONDS:-75} \
  --eval_arg=eval.max_test_examples=$num --eval_arg=eval.num_fid_samples=$num
