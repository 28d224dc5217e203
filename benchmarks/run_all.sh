#!/usr/bin/env bash
# Runs every CPU benchmark into benchmarks/results/cpu/ and regenerates BENCHMARKS.md.
# Run on a quiet machine: bash benchmarks/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
out=benchmarks/results/cpu
mkdir -p $out
$py -m benchmarks.peer --steps=24 --rounds=4 --out=$out/peer.json
# The levers against the peer gap: every lever once at 32x32x3, then the leading ones in rounds.
$py -m benchmarks.peer_levers --configs=0,1 --steps=8 --out=$out/peer_levers_screen.json
$py -m benchmarks.peer_levers --levers=default,xnnpack_off,onednn --configs=0,1 --rounds=3 --steps=8 --out=$out/peer_levers.json
# bfloat16 coupling nets (this CPU's AMX / AVX512_BF16 units), then both sides in bf16.
$py -m benchmarks.peer_levers --levers=default,bf16_nets --configs=0,1 --rounds=3 --steps=8 --out=$out/peer_levers_bf16.json
$py -m benchmarks.peer --bf16 --steps=24 --rounds=4 --out=$out/peer_bf16.json
$py -m benchmarks.actnorm_fusion --out=$out/actnorm_fusion.json
$py -m benchmarks.conv_transpose --out=$out/conv_transpose.json
$py -m benchmarks.op_profile --out=$out/op_profile.json
$py -m benchmarks.op_profile --preset=quick --batches=64 --phases=vae,glow --out=$out/op_profile_quick.json
$py -m benchmarks.epoch_ratio --batch=16 --steps=3 --glow_widths=64,128,256,512 --glow_depths=16,32 --out=$out/epoch_ratio.json
$py -m benchmarks.roofline --preset=default --batch=16 --steps=10 --out=$out/roofline.json
$py -m benchmarks.roofline --preset=quick --dataset=fashion_mnist --batch=64 --steps=5 --phases=vae,glow --out=$out/roofline_quick.json
$py -m benchmarks.compile_time --sizes=fashion_mnist:quick,cifar10:default --steps=1 --batch_paper=4 --out=$out/compile_time.json
$py -m benchmarks.compile_time --sizes=celeba:default --forms=unrolled --flops_only --batch_paper=4 --out=$out/compile_time_celeba_flops.json
$py -m benchmarks.throughput --preset=quick --steps=20 --out=$out/throughput.json
$py -m benchmarks.loop_overhead --preset=quick --steps=30 --rounds=3 --log_every=10 --out=$out/loop_overhead.json
$py -m benchmarks.remat --preset=quick --batch=64 --steps=6 --out=$out/remat.json
$py -m benchmarks.memory --preset=default --out=$out/memory.json  # compiles only: no timing
# Slowest (the paper-size Glow layer with XLA's convolutions takes ~30 s a step): skip with QUICK=1.
if [ -z "${QUICK:-}" ]; then
  $py -m benchmarks.conv_impl --steps=3 --rounds=3 --out=$out/conv_impl.json
fi
$py -m benchmarks.write_markdown --results=$out --out=BENCHMARKS.md
