#!/usr/bin/env bash
# A lever measured side by side: the same benchmark command in worktrees of two commits ("old" and
# "new", by default HEAD), alternating processes so that both see the same machine load. Both are
# worktrees, so edits to this tree while it runs change neither side.
# Each run writes OUTDIR/<old|new>_<round>.json (the command gets --out=...); then
# benchmarks.ab_summary prints the median of every number in both and the ratio new/old.
# Usage: [NEW_REF=...] bash benchmarks/ab_commits.sh OLD_REF ROUNDS OUTDIR python -m benchmarks.throughput ...
# e.g.:  bash benchmarks/ab_commits.sh HEAD~1 3 /tmp/ab .venv/bin/python -m benchmarks.throughput \
#          --preset=quick --phases=glow --batches=64 --datasets=fashion_mnist --steps=10
set -euo pipefail
cd "$(dirname "$0")/.."
old_ref=$1 rounds=$2 out=$3; shift 3
mkdir -p "$out"
trees=$(mktemp -d)
git worktree add --detach -q "$trees/old" "$old_ref"
git worktree add --detach -q "$trees/new" "${NEW_REF:-HEAD}"
trap 'git worktree remove --force "$trees/old"; git worktree remove --force "$trees/new"' EXIT
git -C "$trees/old" log -1 --format='old: %h %s' > "$out/commits.txt"
git -C "$trees/new" log -1 --format='new: %h %s' >> "$out/commits.txt"
cmd=("$@")
[[ ${cmd[0]} = /* ]] || [[ ${cmd[0]} != */* ]] || cmd[0]=$PWD/${cmd[0]}  # the venv is this tree's
for round in $(seq 1 "$rounds"); do
  for side in old new; do
    (cd "$trees/$side" && "${cmd[@]}" --out="$out/${side}_$round.json" > "$out/${side}_$round.log" 2>&1)
  done
  echo "round $round of $rounds done"
done
.venv/bin/python -m benchmarks.ab_summary "$out"
