#!/usr/bin/env bash
# Idempotent set-up: .venv from requirements.txt and requirements-torch.txt, plus the offline
# Fashion-MNIST files (Debian package dataset-fashion-mnist) when root can install them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
# JAX's backend, from the machine (scripts/backend.sh; VAEGLOW_BACKEND=cpu|cuda12|tpu to choose):
# jax[cuda12] or jax[tpu] at the jax version of requirements.lock, else requirements.txt's CPU jaxlib.
backend=$(bash scripts/backend.sh)
stamp=.venv/.requirements.sha256
want=$( (cat requirements.txt requirements-torch.txt requirements.lock; echo "$backend") | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv from requirements.txt for the $backend backend (a few minutes the first time)"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt -r requirements-torch.txt -c requirements.lock
  if [ "$backend" != cpu ]; then
    jax_version=$(grep -i '^jax==' requirements.lock | cut -d= -f3)
    .venv/bin/python -m pip install -q "jax[$backend]==$jax_version"
  fi
  echo "$want" > "$stamp"
fi
.venv/bin/python -c "import jax; print(f'JAX backend: {jax.default_backend()} ({len(jax.devices())} device(s): {jax.devices()[0].device_kind})')" 2>/dev/null \
  || echo "warning: JAX does not start on the $backend backend; set VAEGLOW_BACKEND=cpu and rerun" >&2
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing the offline Fashion-MNIST files (apt-get install dataset-fashion-mnist)"
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "note: /usr/share/datasets/fashion-mnist is missing; run (as root) apt-get install dataset-fashion-mnist" >&2
  fi
fi
