#!/usr/bin/env bash
# The API reference: HTML from the docstrings of every module of vaeglow_jax, by pdoc, into
# docs/api/ (or the folder given). Python warnings are errors, so a docstring pdoc cannot
# render, or a module that fails to import, stops the build. The suite runs this script
# (tests/test_docs.py); open docs/api/index.html after it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/api}
# Every module by name: the package's __all__ would otherwise hide the subpackages. A module named
# twice (a package's spec walks its children too) is one page: that warning alone is allowed.
modules=$(.venv/bin/python -c "
import pkgutil, vaeglow_jax
print(' '.join(['vaeglow_jax'] + [m.name for m in pkgutil.walk_packages(vaeglow_jax.__path__, 'vaeglow_jax.')]))")
# shellcheck disable=SC2086
.venv/bin/python -W error -W 'ignore:The module specification:UserWarning' -m pdoc --docformat google --no-show-source -o "$out" $modules
echo "API reference: $out/index.html ($(echo $modules | wc -w) modules)"
