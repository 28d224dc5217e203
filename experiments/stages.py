"""A stage of a recipe (experiments.recipes), whether it is done, and running a list of them.

`run` runs each stage that is not done, in order, each command in its own process; a copy stage
copies a run's results into a (local, committed) results folder.
"""

from __future__ import annotations

import dataclasses
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys
import time


@dataclasses.dataclass(frozen=True)
class Stage:
  """One command of a recipe.

  kind: 'train' (experiments.train), 'evaluate', 'features' (experiments.train_feature_extractor),
    'copy' (a run's metrics, configs and figures into a results folder) or 'report'.
  workdir: the work directory it reads or writes.
  flags: its command-line flags, '--config.KEY=VALUE' and the like, in order.
  phase, steps: a train stage's phase and last step; an evaluation's phase (and prior_phase).
  label: its name in the log and in runs.tsv.
  """
  kind: str
  workdir: str
  flags: tuple[str, ...] = ()
  phase: str = ''
  steps: int = 0
  prior_phase: str = ''
  label: str = ''
  copy_to: str = ''                  # 'copy': the results folder
  copy_phases: tuple[str, ...] = ()  # 'copy': phases whose config.json is copied
  copy_figures: tuple[str, ...] = ()  # 'copy': eval/<chain>/<figure> files (skipped if absent)
  copy_layout: str = 'prefixed'      # 'copy': OUT/<chain>_<figure> ('prefixed'), OUT/<chain>/<figure>
                                     # ('folders') or OUT/<figure> ('flat')
  # 'train': the last step read from a JSON file another stage writes, as 'PATH:KEY' (the Glow
  # baselines' equal-time budget); `steps` is then unused.
  steps_from: str = ''
  module: str = ''                   # 'run': the module run with `flags` (e.g. a benchmark)
  creates: str = ''                  # 'run': the file it writes; the stage is done once it exists

  @property
  def result_key(self) -> str:
    """An evaluation's metrics.json key (evaluator.result_name)."""
    return self.phase + (f'+{self.prior_phase}' if self.prior_phase else '')


def is_done(stage: Stage) -> bool:
  """Whether `stage`'s result is already there (a copy or a report is never 'done': both are
  cheap and refresh what they write)."""
  from vaeglow_jax import workdir as workdir_lib
  if stage.kind == 'train':
    steps = last_step(stage)
    return steps is not None and steps in workdir_lib.finished_steps(
        workdir_lib.checkpoints_dir(stage.workdir, stage.phase))
  if stage.kind == 'evaluate':
    return stage.result_key in workdir_lib.read_metrics(stage.workdir)
  if stage.kind == 'features':
    return workdir_lib.is_file(workdir_lib.join(stage.workdir,
                                                workdir_lib.FEATURE_EXTRACTOR_INFO))
  if stage.kind == 'run':
    return os.path.exists(stage.creates)
  return False


def last_step(stage: Stage) -> int | None:
  """A train stage's last step: `steps`, or the value in its steps_from file (None while the
  stage that writes it has not run)."""
  if not stage.steps_from:
    return stage.steps
  path, _, key = stage.steps_from.rpartition(':')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return int(json.load(f)[key])


COMMANDS = {'train': 'experiments.train', 'evaluate': 'experiments.evaluate',
            'features': 'experiments.train_feature_extractor', 'report': 'experiments.report'}


def command(stage: Stage) -> list[str]:
  """The command line of a train, evaluate, features, report or run stage."""
  flags = list(stage.flags)
  if stage.kind == 'train' and stage.steps_from:
    flags.append(f'--config.num_train_steps={last_step(stage)}')
  return [sys.executable, '-m', stage.module or COMMANDS[stage.kind], *flags]


def copy_run(stage: Stage) -> list[str]:
  """A run's eval/metrics.json, its phases' config.json (config_<phase>.json when several) and
  the figures that exist, into stage.copy_to; returns the paths written. (Local folders: the
  results folder is committed.)"""
  out = stage.copy_to
  os.makedirs(out, exist_ok=True)
  written = [os.path.join(out, 'metrics.json')]
  shutil.copyfile(os.path.join(stage.workdir, 'eval', 'metrics.json'), written[0])
  for phase in stage.copy_phases:
    name = 'config.json' if len(stage.copy_phases) == 1 else f'config_{phase}.json'
    written.append(os.path.join(out, name))
    shutil.copyfile(os.path.join(stage.workdir, phase, 'config.json'), written[-1])
  for figure in stage.copy_figures:
    for path in sorted(glob.glob(os.path.join(stage.workdir, 'eval', figure))):
      chain = os.path.basename(os.path.dirname(path))
      name = {'prefixed': f'{chain}_{os.path.basename(path)}',
              'folders': os.path.join(chain, os.path.basename(path))}.get(
                  stage.copy_layout, os.path.basename(path))
      written.append(os.path.join(out, name))
      os.makedirs(os.path.dirname(written[-1]), exist_ok=True)
      shutil.copyfile(path, written[-1])
  return written


def run(stages: list[Stage], out: str = '', runner=subprocess.call, log=print) -> int:
  """Runs each stage that is not done, in order; returns 0, or the first failed stage's exit
  status. `runner` takes a command line and returns its exit status."""
  for number, stage in enumerate(stages, 1):
    if is_done(stage):
      continue
    log(f'== {number}/{len(stages)}: {stage.label} ==')
    sys.stdout.flush()  # before the stage's own output
    start = time.time()
    if stage.kind == 'copy':
      copy_run(stage)
      continue
    status = runner(command(stage))
    if status:
      log(f'stage {stage.label!r} failed (exit {status}); rerun the same command to go on from it.')
      return status
    if out and stage.kind != 'report':
      os.makedirs(out, exist_ok=True)
      with open(os.path.join(out, 'runs.tsv'), 'a') as f:
        f.write(f'{stage.label}\t{time.time() - start:.0f}\t'
                f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}\n')
  return 0
