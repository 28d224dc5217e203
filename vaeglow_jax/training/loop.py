"""The training loop: jitted steps dispatched back to back, periodic actions between them.

The host reads the device only when something is due (a log line, a checkpoint, a
sample, an evaluation, the time budget or SIGTERM), so on a GPU or TPU the next steps
are already queued while Python catches up. The non-finite guard and the metric sums
live on the device (`train.LoopMonitor`); the loop turns them into reports.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import jax
from absl import logging

from vaeglow_jax.errors import UserError

# Per-example terms and the names users know them by, for non-finite reports.
TERM_NAMES = {'recon': 'reconstruction', 'kl': 'KL', 'logdet': 'logdet', 'log_prior': 'log prior',
              'latent_neg_elbo': 'second-stage ELBO', 'objective': 'loss'}


class TrainingError(UserError, RuntimeError):
  """A problem the user can fix; the message says how."""


class Preempted(RuntimeError):
  """SIGTERM or Ctrl-C arrived; a final checkpoint was written. by_ctrl_c: a Ctrl-C on this
  process (exit 130 rather than 143)."""

  def __init__(self, message: str, by_ctrl_c: bool = False):
    super().__init__(message)
    self.by_ctrl_c = by_ctrl_c


def itstime(step: int, every: int, last: bool = False) -> bool:
  """Whether a periodic action with period `every` (<= 0: never) runs after `step`;
  `last`: the final step of the run, when every action runs once more."""
  return last or (every > 0 and step % every == 0)


@dataclasses.dataclass
class Action:
  """A periodic action: `run(step, state)` after every `every` steps (<= 0: never).
  at_last: also after the final step; at_stop: also on SIGTERM. `run` returns True
  to end training early (early stopping)."""
  name: str
  every: int
  run: Callable[[int, Any], Any]
  at_last: bool = True
  at_stop: bool = False

  def due(self, step: int, last: bool, stopping: bool) -> bool:
    return itstime(step, self.every, last and self.at_last) or (stopping and self.at_stop)


def nonfinite_message(monitor, checkpoint: str) -> str:
  """'non-finite reconstruction, loss at step 5; last good checkpoint: DIR/4' from a
  host copy of the LoopMonitor."""
  bad = [TERM_NAMES[k] for k in TERM_NAMES
         if k in monitor.last_bad_finite and not monitor.last_bad_finite[k]]
  return (f'non-finite {", ".join(bad or ["gradient"])} at step {int(monitor.last_bad_step)}; '
          f'last good checkpoint: {checkpoint}')


@dataclasses.dataclass
class TrainLoop:
  """Runs `loop_step` (train.make_loop_step) from `start_step` to `num_steps`.

  The first step (compilation) and every step where an action, a log line, the time
  budget or SIGTERM is due end an interval: the host waits for the device there, and
  `timer` records the interval's seconds per step (first one excluded). All actions
  are skipped after a non-finite step, as that step was.
  """
  loop_step: Callable
  reset_sums: Callable             # monitor -> monitor with the metric sums zeroed
  num_steps: int
  log_every_steps: int
  actions: list[Action] = dataclasses.field(default_factory=list)
  writer: Any = None               # clu metric writer for train/* scalars
  timer: Any = None                # timing.StepTimer (record, wall_seconds)
  stop: Any = None                 # runtime.signals.StopSignal (reached(step), describe())
  max_train_seconds: float = 0.0
  nonfinite_policy: str = 'skip'
  last_checkpoint: Callable[[], str] = lambda: 'none yet'
  on_step: Callable[[int], None] | None = None  # e.g. clu ReportProgress
  # optax schedule: logged as train/learning_rate, its value for the last step of each log
  # interval (update count step - 1; a skipped non-finite step does not advance the count).
  learning_rate: Callable[[int], Any] | None = None
  # Several processes: each has its own clock, so the time budget is checked only at log
  # steps and the processes' answers are combined by this collective (distributed.agree).
  agree: Callable[[bool], bool] | None = None

  def _out_of_time(self, step: int) -> bool:
    if self.max_train_seconds <= 0 or self.timer is None:
      return False
    if self.agree is None:
      return self.max_train_seconds <= self.timer.wall_seconds()
    if not itstime(step, self.log_every_steps):
      return False
    return self.agree(self.max_train_seconds <= self.timer.wall_seconds())

  def run(self, state, monitor, batches, rng, start_step: int):
    """-> (state, last step, [(step, {metric: mean over finite steps})] of the logs)."""
    history, step, warned_step = [], start_step, 0
    interval = (time.perf_counter(), start_step)
    while step < self.num_steps:
      state, monitor = self.loop_step(state, monitor, next(batches), rng)
      step += 1
      if self.on_step is not None:
        self.on_step(step)
      out_of_time = self._out_of_time(step)
      last = step == self.num_steps or out_of_time
      stopping = self.stop is not None and self.stop.reached(step)
      log_due = itstime(step, self.log_every_steps, last)
      due = [a for a in self.actions if a.due(step, last, stopping)]
      if not (due or log_due or stopping or out_of_time or step == start_step + 1):
        continue
      stats = jax.device_get(monitor)  # waits for the step: the interval ends here
      if self.timer is not None and interval[1] > start_step:
        self.timer.record(step - interval[1], time.perf_counter() - interval[0])
      if bool(stats.halted):
        skipped = '' if self.nonfinite_policy == 'stop' else (
            f' ({int(stats.consecutive_nonfinite)} consecutive steps skipped)')
        raise TrainingError(nonfinite_message(stats, self.last_checkpoint()) + skipped)
      if int(stats.last_bad_step) > warned_step:
        warned_step = int(stats.last_bad_step)
        logging.warning('%s; %d step(s) skipped since the last report, parameters unchanged',
                        nonfinite_message(stats, self.last_checkpoint()), int(stats.nonfinite_steps))
      finite = int(stats.consecutive_nonfinite) == 0
      if log_due and int(stats.finite_steps) > 0:
        summary = {k: float(v) / int(stats.finite_steps) for k, v in stats.sums.items()}
        if self.writer is not None:
          scalars = {f'train/{k}': v for k, v in summary.items()}
          if self.learning_rate is not None:
            scalars['train/learning_rate'] = float(self.learning_rate(step - 1))
          self.writer.write_scalars(step, scalars)
        history.append((step, summary))
        monitor = self.reset_sums(monitor)
      stop_early = False
      if finite:
        for action in due:
          if action.run(step, state):
            stop_early = True
            break
      if stopping:
        reason = self.stop.describe() if hasattr(self.stop, 'describe') else 'SIGTERM'
        raise Preempted(f'stopped by {reason} at step {step}; last checkpoint: '
                        f'{self.last_checkpoint()}; rerun the same command to resume.',
                        by_ctrl_c=reason == 'Ctrl-C')
      if out_of_time:
        logging.info('time budget max_train_seconds=%s used up at step %d',
                     self.max_train_seconds, step)
      if stop_early or out_of_time:
        break
      interval = (time.perf_counter(), step)
    return state, step, history

