# Sourced by benchmarks/gpu_check.sh and scripts/gpu_results.sh: sets $py to the Python to run
# (PYTHON, else .venv/bin/python, else python3) and, unless $preset is 'test', installs the CUDA
# plugin matching the pinned jax when the backend is not a GPU yet.
py=${PYTHON:-.venv/bin/python}
[ -x "$py" ] || py=python3
if [ "${preset:-}" != test ] && ! "$py" -c "import jax, sys; sys.exit(jax.default_backend() != 'gpu')" 2>/dev/null; then
  "$py" -m pip install -q "jax[cuda12]==$("$py" -c 'import jax; print(jax.__version__)')" \
    || echo "warning: could not install the CUDA JAX plugin; running on $("$py" -c 'import jax; print(jax.default_backend())')"
fi
"$py" -c "import jax; print('backend:', jax.default_backend(), jax.devices())"
