#!/usr/bin/env bash
# Creates .venv from requirements.txt when missing, then runs the test suite
# with 2 workers, listing the 25 slowest tests. Extra arguments go to pytest (e.g. -m "not slow").
# --maxschedchunk=2: xdist hands tests out two at a time. By default it gives each worker a
# quarter of its share at once, so one worker took all the long tests (conftest sorts them
# first) and the other idled for the last 317 s of an 860 s run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/python -m pytest -n 2 --maxschedchunk=2 --durations=25 "$@"
