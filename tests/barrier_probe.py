"""One process of a local multi-process run that waits at a barrier, for tests:

  python -m tests.barrier_probe PORT PROCESS_ID NUM_PROCESSES DELAY_S TIMEOUT_S

sleeps DELAY_S, then waits at barrier 'probe' for at most TIMEOUT_S; prints 'passed', or the
one-line error and exits 2."""

import sys
import time

import jax
import ml_collections

from vaeglow_jax.runtime import distributed


def main(port, process_id, num_processes, delay_s, timeout_s):
  distributed.initialize(ml_collections.ConfigDict({'distributed': {
      'coordinator_address': f'127.0.0.1:{port}', 'num_processes': int(num_processes),
      'process_id': int(process_id)}}))
  jax.devices()  # the backends start together (a collective of its own), then one process lags
  time.sleep(float(delay_s))
  try:
    distributed.barrier('probe', float(timeout_s))
  except distributed.DistributedError as e:
    print(f'error: {e}', flush=True)
    sys.exit(2)
  print('passed', flush=True)


if __name__ == '__main__':
  main(*sys.argv[1:])
