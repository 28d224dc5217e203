"""Stopping on a signal: SIGTERM (preemption) or Ctrl-C ends training at a checkpoint."""

from __future__ import annotations

import os
import signal
import threading

from absl import logging



class StopSignal:
  """SIGTERM (preemption) or a first Ctrl-C (SIGINT): the loop checkpoints the current step and
  stops; a second Ctrl-C raises KeyboardInterrupt at once (Python's default), which keeps every
  checkpoint already saved (a save it cuts short is a temporary folder, removed by the rerun).

  sync: None for one process, which owns SIGTERM itself. Several processes: a
  distributed.PreemptionSync, since JAX's preemption notifier owns SIGTERM and agrees with the
  other processes on the step to stop at; a Ctrl-C is then passed on as SIGTERM to this process,
  so that a Ctrl-C reaching one process (a pod) or all of them (a local run) stops every process
  at one step with one checkpoint.
  """

  def __init__(self, sync=None):
    self.sync = sync
    self.reason = ''  # 'SIGTERM' or 'Ctrl-C' once one arrived here
    self._previous = {}

  @property
  def received(self) -> bool:
    return bool(self.reason)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      signals = (signal.SIGINT,) if self.sync is not None else (signal.SIGINT, signal.SIGTERM)
      for signum in signals:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if signum == signal.SIGINT and self.reason == 'Ctrl-C':  # the second one: stop now
      signal.signal(signal.SIGINT, signal.default_int_handler)
      raise KeyboardInterrupt
    self.reason = self.reason or ('Ctrl-C' if signum == signal.SIGINT else 'SIGTERM')
    if signum == signal.SIGINT:
      logging.warning('Ctrl-C: checkpointing the current step, then stopping (a second Ctrl-C '
                      'stops at once, keeping the checkpoints already saved)')
    if signum == signal.SIGINT and self.sync is not None:
      os.kill(os.getpid(), signal.SIGTERM)  # to JAX's preemption notifier

  def reached(self, step: int) -> bool:
    """Whether to checkpoint and stop after `step` (the loop asks after every step; with several
    processes every process must ask)."""
    if self.sync is not None:
      return self.sync.reached(step)
    return self.received

  def describe(self) -> str:
    """What stopped the run, for its last line."""
    # Several processes: a Ctrl-C anywhere reaches the others as SIGTERM (to one of them).
    return self.reason or 'SIGTERM'

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    return False
