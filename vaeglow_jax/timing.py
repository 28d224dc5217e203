"""timing.json, one owner: training writes it (StepTimer), evaluation reads it (read).

WORKDIR/<phase>/timing.json: steps_per_epoch, batch_size, num_devices, device_kind,
wall_seconds (all runs of the phase, resumes added up), steps_timed, median_step_seconds,
seconds_per_epoch (median x steps per epoch) and step_seconds (the last 2,000 intervals' means).
"""

from __future__ import annotations

import time

import jax
import numpy as np

from vaeglow_jax.io import files as files_lib
from vaeglow_jax.io import workdir as workdir_lib


def progress(done: int, total: int, elapsed_seconds: float, unit: str) -> str:
  """'2,560/10,000 images, 45 s, ETA 2 min 11 s': how far a long job is and, at its rate so
  far, how long it has left."""
  text = f'{done:,}/{total:,} {unit}, {elapsed_seconds:.0f} s'
  if 0 < done < total:
    left = elapsed_seconds / done * (total - done)
    minutes, seconds = divmod(round(left), 60)
    text += f', ETA {minutes} min {seconds} s' if minutes else f', ETA {seconds} s'
  return text


def read(workdir: str, phase: str) -> dict | None:
  """WORKDIR/<phase>/timing.json, or None if the phase has none."""
  return files_lib.read_json(workdir_lib.timing_path(workdir, phase))


class StepTimer:
  """Wall time of training and steady-state seconds per step, kept in timing.json.

  Steady state: the median of the seconds per step of the loop's intervals (input +
  train steps between two host reads, `loop.TrainLoop`), without the first step of
  each run (compilation) and without checkpointing, sampling and logging, which happen
  between intervals. `step_seconds` lists the intervals' means, `steps_timed` counts
  their steps. Wall time adds up over resumed runs; it is what `max_train_seconds` limits.
  """

  def __init__(self, path: str, steps_per_epoch: int, batch_size: int, num_devices: int):
    self.path = path
    self.info = {'steps_per_epoch': steps_per_epoch, 'batch_size': batch_size,
                 'num_devices': num_devices, 'device_kind': jax.devices()[0].device_kind}
    self.previous_wall, self.step_seconds, self.steps_timed = 0.0, [], 0
    saved = files_lib.read_json(path)
    if saved is not None:
      self.previous_wall = float(saved.get('wall_seconds', 0.0))
      self.step_seconds = list(saved.get('step_seconds', []))
      self.steps_timed = int(saved.get('steps_timed', len(self.step_seconds)))
    self.start = time.time()

  def record(self, steps: int, seconds: float) -> None:
    """One interval: `steps` steps that took `seconds` in all."""
    if steps > 0:
      self.step_seconds.append(seconds / steps)
      self.steps_timed += steps

  def wall_seconds(self) -> float:
    return self.previous_wall + time.time() - self.start

  def summary(self) -> dict:
    median = float(np.median(self.step_seconds)) if self.step_seconds else float('nan')
    return {**self.info, 'wall_seconds': self.wall_seconds(), 'steps_timed': self.steps_timed,
            'median_step_seconds': median,
            'seconds_per_epoch': median * self.info['steps_per_epoch'],
            'step_seconds': self.step_seconds[-2000:]}

  def write(self) -> None:
    files_lib.write_json_atomic(self.path, self.summary(), indent=None)
