"""Multi-process set-up: `jax.distributed.initialize` from the config or the environment.

One process per host (TPU pod worker, GPU node, or a local process with its own simulated
CPU devices). The config keys `distributed.coordinator_address`, `num_processes` and
`process_id` win; when empty, the environment variables JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES and JAX_PROCESS_ID are read; when those are unset too, JAX detects the
cluster itself (TPU pods, SLURM, Open MPI).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time

import jax
import numpy as np

from vaeglow_jax.errors import UserError


class DistributedError(UserError, ValueError):
  """A multi-process setting the user can fix; the message says how."""


def settings(distributed_config, environ=os.environ) -> dict:
  """{coordinator_address, num_processes, process_id} from the config, else the environment;
  None where neither says (JAX's auto-detection fills those)."""
  def pick(key, env, cast):
    value = distributed_config.get(key) if distributed_config is not None else None
    if value in (None, '', -1):
      value = environ.get(env) or None
    if value is None:
      return None
    try:
      return cast(value)
    except ValueError:
      raise DistributedError(f'distributed.{key} (or ${env}) must be {cast.__name__}, got '
                             f'{value!r}.') from None
  out = {'coordinator_address': pick('coordinator_address', 'JAX_COORDINATOR_ADDRESS', str),
         'num_processes': pick('num_processes', 'JAX_NUM_PROCESSES', int),
         'process_id': pick('process_id', 'JAX_PROCESS_ID', int)}
  n, i = out['num_processes'], out['process_id']
  if n is not None and n < 1:
    raise DistributedError(f'distributed.num_processes must be >= 1, got {n}.')
  if n is not None and i is not None and not 0 <= i < n:
    raise DistributedError(f'distributed.process_id must be in 0..{n - 1}, got {i}.')
  return out


def wanted(config) -> bool:
  """Whether this run is multi-process: config.multihost, or any distributed setting."""
  if config.get('multihost', False):
    return True
  return any(v is not None for v in settings(config.get('distributed')).values())


# A process that lost another (killed, preempted, cut off) ends with this code: 75 is EX_TEMPFAIL,
# "try again", which is what to do (rerun the same commands on every host).
EXIT_PEER_LOST = 75


def initialize(config) -> None:
  """Starts JAX's distributed runtime once per process when the config asks for it, and the
  PeerWatchdog. On CPU the collectives go through gloo (several local processes on one machine).

  JAX's own reaction to a lost process is to abort every other process from C++ once it misses
  distributed.heartbeat_timeout_seconds of heartbeats (exit 134, a stack, no line of ours, the
  lock left held). With JAX's recoverability on, the coordination service only records the loss;
  the watchdog sees it and ends this process itself (peer_lost)."""
  if not wanted(config) or jax.distributed.is_initialized():
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')  # no effect on GPU/TPU arrays
  jax.config.update('jax_enable_recoverability', True)  # a lost task is not fatal to the others
  options = config.get('distributed') or {}
  heartbeat = int(options.get('heartbeat_timeout_seconds', 100))
  shutdown = int(options.get('shutdown_timeout_seconds', 60))
  jax.distributed.initialize(
      **{k: v for k, v in settings(options).items() if v is not None},
      heartbeat_timeout_seconds=heartbeat, shutdown_timeout_seconds=shutdown)
  watchdog = PeerWatchdog(heartbeat, shutdown)
  watchdog.start()
  # Before JAX's own exit handler (atexit runs the newest first) disconnects this process.
  atexit.register(watchdog.finish)


class PeerWatchdog(threading.Thread):
  """Ends this process when the coordination service reports another process dead (no heartbeat
  for `heartbeat_timeout` seconds), or when the service itself, in process 0, has not answered
  for half that time: peer_lost. A daemon thread for the life of the process: the main thread
  may be blocked in a collective with the lost process, which never returns."""

  FINISHED = 'vaeglow_finished/'  # key-value store: the processes that exited on their own

  def __init__(self, heartbeat_timeout: float, shutdown_timeout: float):
    super().__init__(name='vaeglow-peer-watchdog', daemon=True)
    self.poll_seconds = max(0.5, heartbeat_timeout / 20)
    self.unreachable_seconds = heartbeat_timeout / 2
    self.shutdown_timeout = shutdown_timeout
    self.finished = threading.Event()

  def finish(self) -> None:
    """This process is exiting on its own (done, or an error every process reports): its
    disconnection is not a loss, and from here on a missing peer is not either. Process 0 runs
    the coordination service: with recoverability on, JAX no longer holds it at a shutdown
    barrier, so it waits here (up to shutdown_timeout_seconds) until the others have left."""
    self.finished.set()
    try:
      client = _client()
      client.key_value_set(f'{self.FINISHED}{jax.process_index()}', 'yes')
      deadline = time.monotonic() + self.shutdown_timeout
      # get_live_nodes returns once every live process listed has asked too (their watchdogs
      # ask until they finish), so a process that has left ends the wait at once.
      while jax.process_index() == 0 and time.monotonic() < deadline:
        if set(client.get_live_nodes(list(range(jax.process_count())))) <= {0}:
          break
        time.sleep(0.1)
    except Exception:  # noqa: BLE001 - the service is gone already: nothing to wait for
      pass

  def run(self):
    client, count = _client(), jax.process_count()
    failing_since = None
    while not self.finished.wait(self.poll_seconds):
      try:
        live = client.get_live_nodes(list(range(count)))
        finished = {int(k.rsplit('/', 1)[1]) for k, _ in client.key_value_dir_get(self.FINISHED)}
        failing_since = None
      except Exception as e:  # noqa: BLE001 - the service (process 0) cannot be reached
        failing_since = failing_since or time.monotonic()
        if time.monotonic() - failing_since >= self.unreachable_seconds:
          self._lost([0], _first_sentence(e))
        continue
      lost = [i for i in range(count) if i not in live and i not in finished]
      if lost:
        self._lost(lost, 'no heartbeat within distributed.heartbeat_timeout_seconds')

  def _lost(self, lost, detail):
    if not self.finished.is_set():
      peer_lost(lost, detail)


def peer_lost(lost: list[int], detail: str) -> None:
  """Another process (or the coordinator) is gone: one line, the abort hooks (the lock released,
  local temporaries removed), then the process ends at once with EXIT_PEER_LOST."""
  from vaeglow_jax.runtime import failures
  index, count = jax.process_index(), jax.process_count()
  who = ', '.join(f'process {i}' for i in lost) + (' (the coordinator)' if 0 in lost else '')
  line = (f'error: process {index} of {count}: lost {who}: killed, preempted or cut off '
          f'({detail}); rerun the same commands on every host to resume from the last checkpoint.')
  os.write(2, (line + '\n').encode())  # fd 2 itself: sys.stderr may be held by a save
  failures.run_abort_hooks()
  os._exit(EXIT_PEER_LOST)  # pylint: disable=protected-access


def await_peer_verdict(config) -> None:
  """Called where a collective failed (gloo reports a dead peer at once, before the coordination
  service does): gives the watchdog the time to confirm a lost process and end this one with
  its line. Returns if it does not, and the caller raises the error as it is."""
  if jax.process_count() > 1 and jax.distributed.is_initialized():
    time.sleep(float((config.get('distributed') or {}).get('heartbeat_timeout_seconds', 100)) + 5)


def config_fingerprint(config) -> str:
  """A digest of the config without the keys that differ between processes by design."""
  import hashlib
  settings_free = config.to_dict()
  for key in ('distributed', 'multihost'):  # how each process was told to join
    settings_free.pop(key, None)
  return hashlib.sha256(json.dumps(settings_free, sort_keys=True, default=str).encode()).hexdigest()


def is_primary() -> bool:
  """Process 0 writes the shared files (config, timing, samples, TensorBoard, metrics)."""
  return jax.process_index() == 0


def barrier(name: str, timeout_seconds: float = 300.0) -> None:
  """Waits until every process reaches `name` (no-op for one process). A process that does not
  arrive within the timeout, or that died, ends the wait on the others with one error that
  names it (each process marks its arrival in the coordination key-value store first)."""
  if jax.process_count() == 1:
    return
  client, index, count = _client(), jax.process_index(), jax.process_count()
  client.key_value_set(f'{name}/arrived/{index}', 'yes')
  try:
    client.wait_at_barrier(name, int(timeout_seconds * 1000))
  except Exception as e:  # noqa: BLE001 - a JaxRuntimeError (DEADLINE_EXCEEDED, or a peer that died)
    missing = _not_arrived(client, name, count)
    who = (', '.join(f'process {i}' for i in missing) + f' of {count} did not reach'
           if missing else 'not every process reached')
    raise DistributedError(
        f'process {index} of {count}: {who} {name!r} within {timeout_seconds:.0f} s '
        f'({_first_sentence(e)}); the first error is in the log of the process that did not '
        'arrive.') from None


def _first_sentence(error: BaseException) -> str:
  """'DEADLINE_EXCEEDED: Barrier timed out' from JAX's many-line barrier error."""
  return str(error).splitlines()[0].split('. ')[0].rstrip('.')[:160]


def _not_arrived(client, name: str, count: int) -> list[int]:
  """The processes that have not marked their arrival at barrier `name`; [] when the store
  cannot say (the coordinator, process 0, may be the one that is gone)."""
  try:
    arrived = {int(key.rsplit('/', 1)[1]) for key, _ in client.key_value_dir_get(f'{name}/arrived/')}
  except Exception:  # noqa: BLE001 - the store is unreachable: say nothing rather than guess
    return []
  return [i for i in range(count) if i not in arrived]


def _client():
  """JAX's coordination-service client: its key-value store tells which processes reached a
  barrier. JAX has no public API for it; this is the client JAX's own multi-process tests use,
  and setup.cfg pins jax below the next minor version. A JAX without it is one clear error."""
  try:
    from jax._src import distributed as jax_distributed
    return jax_distributed.global_state.client
  except (ImportError, AttributeError) as e:
    raise RuntimeError(
        f'JAX {jax.__version__} has no jax._src.distributed.global_state.client, which '
        'vaeglow_jax.runtime.distributed uses for barriers that name the processes that did not arrive; '
        'install the jax version of requirements.txt (setup.cfg: jax<0.11).') from e


def check_together(name: str, check, fingerprint: str = '',
                   timeout_seconds: float = 300.0):
  """Runs `check()` (the checks a run makes before its first collective) on every process and
  returns its value. A user error on any process, or a `fingerprint` (e.g. of the config) that
  differs from process 0's, ends every process with the same one-line DistributedError naming
  the process, instead of one process exiting and the others waiting at their next collective.
  check() itself must not run collectives (an Orbax CheckpointManager is one), since the
  processes it fails on stop short of them. One process: check()'s own errors, unchanged."""
  if jax.process_count() == 1:
    return check()
  value, outcome = None, 'ok'
  try:
    value = check()
  except UserError as e:
    outcome = f'error: {e}'
  client, index, count = _client(), jax.process_index(), jax.process_count()
  client.key_value_set(f'{name}/outcome/{index}', outcome)
  client.key_value_set(f'{name}/fingerprint/{index}', fingerprint)
  barrier(name, timeout_seconds)
  get = lambda key: client.blocking_key_value_get(key, int(timeout_seconds * 1000))  # noqa: E731
  for i in range(count):
    theirs = get(f'{name}/outcome/{i}')
    if theirs != 'ok':
      raise DistributedError(f'process {i} of {count}: {theirs[len("error: "):]}')
  reference = get(f'{name}/fingerprint/0')
  differ = [i for i in range(1, count) if get(f'{name}/fingerprint/{i}') != reference]
  if differ:
    raise DistributedError(f'the config of process {differ[0]} of {count} differs from process '
                           "0's: give every process the same --config and overrides (only "
                           'multihost and distributed.* may differ).')
  return value


class PreemptionSync:
  """SIGTERM to any one process -> every process checkpoints the same step and stops.

  JAX's preemption sync manager (started by jax.distributed.initialize, and what Orbax's
  CheckpointManager.reached_preemption asks) notices the signal and agrees on a step;
  `reached(step)` turns True on every process at that step. It must be asked after
  every step, by every process, which the training loop does."""

  def reached(self, step: int) -> bool:
    from jax.experimental import multihost_utils
    return multihost_utils.reached_preemption_sync_point(step)


def agree(flag: bool) -> bool:
  """Process 0's answer on every process (a collective: every process must call it at the
  same point), for host-side decisions such as the time budget that each process's own
  clock could answer differently."""
  from jax.experimental import multihost_utils
  return bool(multihost_utils.broadcast_one_to_all(np.bool_(flag)))


def any_process(flag: bool) -> bool:
  """Whether `flag` holds on any process, on every process (a collective when there are several:
  every process must call it at the same point); `flag` itself with one process."""
  if jax.process_count() == 1:
    return bool(flag)
  from jax.experimental import multihost_utils
  return bool(np.any(multihost_utils.process_allgather(np.bool_(flag))))
