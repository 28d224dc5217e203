#!/usr/bin/env bash
# Idempotent set-up: .venv from requirements.txt and requirements-torch.txt, plus the offline
# Fashion-MNIST files (Debian package dataset-fashion-mnist) when root can install them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-torch.txt requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv from requirements.txt (a few minutes the first time)"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt -r requirements-torch.txt -c requirements.lock
  echo "$want" > "$stamp"
fi
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing the offline Fashion-MNIST files (apt-get install dataset-fashion-mnist)"
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "note: /usr/share/datasets/fashion-mnist is missing; run (as root) apt-get install dataset-fashion-mnist" >&2
  fi
fi
