"""`python -m tests.launched MODULE ARGS` runs `python -m MODULE ARGS` (tests.helpers.launch), with
one change to JAX: every process of a multi-process run writes its persistent-cache entries.

JAX writes them from process 0 only (jax/_src/compiler.py, `_cache_write`), and on CPU the other
processes' cache keys differ from process 0's (they hash their own device assignment), so every
launch of a process 1 compiled all of its programs again: about 8 s of CPU for an 8-step run.
The programs, and what the tests check, are the same either way.
"""

import runpy
import sys

from jax._src import compilation_cache, compiler, distributed

_write_from_process_0 = compiler._cache_write


def _cache_write_from_every_process(cache_key, compile_time_secs, module_name, backend, executable,
                                    host_callbacks):
  if distributed.global_state.process_id == 0 or host_callbacks:  # JAX's own rules
    return _write_from_process_0(cache_key, compile_time_secs, module_name, backend, executable,
                                 host_callbacks)
  compilation_cache.put_executable_and_time(cache_key, module_name, executable, backend,
                                            int(compile_time_secs))


if __name__ == '__main__':
  compiler._cache_write = _cache_write_from_every_process
  module = sys.argv.pop(1)
  sys.argv[0] = module
  runpy.run_module(module, run_name='__main__', alter_sys=True)
