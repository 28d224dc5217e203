"""The XLA flags every test process runs with (no JAX import: conftest sets them before JAX starts)."""

# LLVM optimisation level 0 for the tests: compiling the tiny test programs dominates the
# suite (compiling the test encoder's threefry-based parameter initialisation: ~12 s at the
# default level, ~2 s at 0), and the tests check values, not speed. The legacy elemental
# emitters (fusion emitters off) compile the test train steps ~30% faster again (non-slow suite
# 430 s -> 260 s on 2 cores). LLVM code generation in one piece, not split for parallel
# threads: on 2 cores shared by 2 test workers the split only adds work (tests/models/test_glow.py and
# tests/test_phases.py: 151-157 s -> 124-126 s of CPU). Benchmarks and training runs outside the
# tests keep XLA's defaults.
COMPILE_FLAGS = ('--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false '
                 '--xla_cpu_parallel_codegen_split_count=1')


def xla_flags(devices: int) -> str:
  """XLA_FLAGS for a test process with `devices` simulated CPU devices."""
  return f'--xla_force_host_platform_device_count={devices} {COMPILE_FLAGS}'
