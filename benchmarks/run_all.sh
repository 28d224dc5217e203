#!/usr/bin/env bash
# Runs every CPU benchmark into benchmarks/results/cpu/ and regenerates BENCHMARKS.md.
# Run on a quiet machine: bash benchmarks/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
out=benchmarks/results/cpu
mkdir -p $out
$py -m benchmarks.peer --steps=24 --rounds=4 --out=$out/peer.json
$py -m benchmarks.epoch_ratio --batch=16 --steps=3 --out=$out/epoch_ratio.json
$py -m benchmarks.roofline --preset=default --batch=16 --steps=10 --out=$out/roofline.json
$py -m benchmarks.throughput --preset=quick --steps=20 --out=$out/throughput.json
$py -m benchmarks.write_markdown --results=$out --out=BENCHMARKS.md
