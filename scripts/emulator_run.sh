#!/usr/bin/env bash
# Phase 1 and phase 2 into a bucket of a local Cloud Storage emulator, then evaluation from it,
# and the bucket's listing: the by-hand version of tests/io/test_object_storage_runs.py.
# Usage: bash scripts/emulator_run.sh [VAE_STEPS] [GLOW_STEPS]   (default 20 and 10; the tests' tiny config)
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
vae_steps=${1:-20} glow_steps=${2:-10}
root=$(mktemp -d)
$py -m tests.gcs_emulator serve "$root/objects" demo > "$root/env" &
emulator=$!
trap 'kill $emulator 2>/dev/null; rm -rf "$root"' EXIT
until [ -s "$root/env" ]; do sleep 0.2; done
source "$root/env"
cat "$root/env"
cfg=tests/configs/tiny.py
set -x
$py -m experiments.train --config=$cfg --workdir=gs://demo/run --config.num_train_steps=$vae_steps
$py -m experiments.train --config=$cfg --workdir=gs://demo/run --config.phase=glow \
    --config.num_train_steps=$glow_steps
$py -m experiments.evaluate --workdir=gs://demo/run --config.phase=glow --config.eval.iw_samples=4 \
    --config.eval.max_test_examples=256
$py -m tests.gcs_emulator ls gs://demo/run
