#!/usr/bin/env bash
# Creates .venv from requirements.txt when missing, then runs the test suite
# with 2 workers, listing the 25 slowest tests. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest -n 2 --durations=25 "$@"
