#!/usr/bin/env bash
# Creates .venv from requirements.txt when missing, then runs the tests with 2 workers, listing
# the 25 slowest. Which tests:
#   bash scripts/test.sh              the suite: every test not marked slow (within 10 minutes on
#                                     2 cores)
#   bash scripts/test.sh --all        every test, the slow end-to-end ones too
#   bash scripts/test.sh -m slow      the slow ones alone (.ci/run runs the suite, then these)
#   bash scripts/test.sh tests/X.py   the named files or tests, slow or not
# Other arguments go to pytest.
# --maxschedchunk=2: xdist hands tests out two at a time. By default it gives each worker a
# quarter of its share at once, so one worker took all the long tests (conftest sorts them
# first) and the other idled for the last 317 s of an 860 s run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
select=(-m 'not slow')
args=()
for arg in "$@"; do
  case "$arg" in
    --all) select=() ;;
    -m* | --markexpr*) select=(); args+=("$arg") ;;
    tests | tests/* | ./tests | ./tests/* | *::*) select=(); args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
exec .venv/bin/python -m pytest -n 2 --maxschedchunk=2 --durations=25 "${select[@]}" "${args[@]}"
