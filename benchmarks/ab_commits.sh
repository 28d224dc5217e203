#!/usr/bin/env bash
# A lever measured side by side: the same benchmark command in a worktree of an older commit
# ("old") and in this tree ("new"), alternating processes so that both see the same machine load.
# Each run writes OUTDIR/<old|new>_<round>.json (the command gets --out=...); then
# benchmarks.ab_summary prints the median of every number in both and the ratio new/old.
# Usage: bash benchmarks/ab_commits.sh OLD_REF ROUNDS OUTDIR python -m benchmarks.throughput ...
# e.g.:  bash benchmarks/ab_commits.sh HEAD~1 3 /tmp/ab .venv/bin/python -m benchmarks.throughput \
#          --preset=quick --phases=glow --batches=64 --datasets=fashion_mnist --steps=10
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=$1 rounds=$2 out=$3; shift 3
mkdir -p "$out"
old_tree=$(mktemp -d)/old
git worktree add --detach -q "$old_tree" "$old_ref"
trap 'git worktree remove --force "$old_tree"' EXIT
here=$PWD
cmd=("$@")
[[ ${cmd[0]} = /* ]] || [[ ${cmd[0]} != */* ]] || cmd[0]=$here/${cmd[0]}  # the venv is this tree's
for round in $(seq 1 "$rounds"); do
  (cd "$old_tree" && "${cmd[@]}" --out="$out/old_$round.json" > "$out/old_$round.log" 2>&1)
  (cd "$here" && "${cmd[@]}" --out="$out/new_$round.json" > "$out/new_$round.log" 2>&1)
  echo "round $round of $rounds done"
done
.venv/bin/python -m benchmarks.ab_summary "$out"
