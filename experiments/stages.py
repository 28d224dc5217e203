"""The stages of a recipe (experiments.recipes), each a small class that knows whether it is done
and how to run, and `run`, which runs a list of them.

A command stage (`Train`, `Evaluate`, `Features`, `Report`, `Run`) runs one command in its own
process; `Copy` copies a run's results into a (local, committed) results folder, and `Fork`
copies a trained work directory to train it further elsewhere, both in this process.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import os
import subprocess
import sys
import time
from typing import ClassVar

from vaeglow_jax import errors

# A fork stage's work directory: FORK_DONE (written last) records what it was copied from; FORK_PARTIAL
# (written first) marks a copy in progress, which a rerun may replace.
FORK_DONE = 'forked_from.json'
FORK_PARTIAL = 'forking_from.json'


class StageError(errors.UserError, RuntimeError):
  """A stage cannot run as asked (e.g. a fork onto a work directory that is not its own)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stage:
  """One step of a recipe.

  workdir: the work directory it reads or writes.
  flags: a command stage's command-line flags, '--config.KEY=VALUE' and the like, in order.
  label: its name in the log and in runs.tsv.
  """
  kind: ClassVar[str] = ''
  module: ClassVar[str] = ''      # the module a command stage runs (python -m MODULE)
  timed: ClassVar[bool] = True    # whether its wall time goes to runs.tsv
  workdir: str
  flags: tuple[str, ...] = ()
  label: str = ''

  def is_done(self) -> bool:
    """Whether its result is already there (then a rerun skips it)."""
    return False

  def command(self) -> list[str]:
    return [sys.executable, '-m', self.module, *self.flags]

  def run(self, runner=subprocess.call) -> int:
    """Runs it; returns its exit status. runner(command line) -> exit status."""
    return runner(self.command())


@dataclasses.dataclass(frozen=True, kw_only=True)
class Train(Stage):
  """Trains `phase` to step `steps`, or to the step read from `steps_from` ('PATH:KEY', a JSON
  file another stage writes: the Glow baselines' equal-time budget)."""
  kind: ClassVar[str] = 'train'
  module: ClassVar[str] = 'experiments.train'
  phase: str = ''
  steps: int = 0
  steps_from: str = ''

  def last_step(self) -> int | None:
    """`steps`, or the value in the steps_from file (None while the stage that writes it has not
    run)."""
    from vaeglow_jax.io import files as files_lib
    if not self.steps_from:
      return self.steps
    path, _, key = self.steps_from.rpartition(':')
    values = files_lib.read_json(path)
    return None if values is None else int(values[key])

  def is_done(self) -> bool:
    from vaeglow_jax.io import workdir as workdir_lib
    steps = self.last_step()
    return steps is not None and steps in workdir_lib.finished_steps(
        workdir_lib.checkpoints_dir(self.workdir, self.phase))

  def command(self) -> list[str]:
    extra = [f'--config.num_train_steps={self.last_step()}'] if self.steps_from else []
    return [*super().command(), *extra]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evaluate(Stage):
  """Evaluates `phase` (sampled from `prior_phase`'s prior when given: a chain)."""
  kind: ClassVar[str] = 'evaluate'
  module: ClassVar[str] = 'experiments.evaluate'
  phase: str = ''
  prior_phase: str = ''

  @property
  def result_key(self) -> str:
    """Its metrics.json key (as evaluation.loading.result_name gives it)."""
    from vaeglow_jax.evaluation.metrics import keys
    return keys.result_key(self.phase, self.prior_phase)

  def is_done(self) -> bool:
    from vaeglow_jax.io import workdir as workdir_lib
    return self.result_key in workdir_lib.read_metrics(self.workdir)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Features(Stage):
  """Trains the FID classifier into `workdir`."""
  kind: ClassVar[str] = 'features'
  module: ClassVar[str] = 'experiments.train_feature_extractor'

  def is_done(self) -> bool:
    from vaeglow_jax.io import files as files_lib, workdir as workdir_lib
    return files_lib.is_file(files_lib.join(self.workdir, workdir_lib.FEATURE_EXTRACTOR_INFO))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Report(Stage):
  """Writes a results table (experiments.report); cheap, so always rerun."""
  kind: ClassVar[str] = 'report'
  module: ClassVar[str] = 'experiments.report'
  timed: ClassVar[bool] = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run(Stage):
  """Runs `module` (e.g. a benchmark), which writes the file `creates`; done once it exists."""
  kind: ClassVar[str] = 'run'
  module: str
  creates: str

  def is_done(self) -> bool:
    from vaeglow_jax.io import files as files_lib
    return files_lib.is_file(self.creates)


def _figures(workdir: str, pattern: str):
  """(chain, file name, path) of the files eval/<chain>/<file> of `workdir` that match the
  'CHAIN/FILE' pattern (fnmatch: '*' allowed in either part), sorted."""
  from vaeglow_jax.io import files as files_lib
  chain_pattern, file_pattern = pattern.split('/')
  evaluated = files_lib.join(workdir, 'eval')
  for chain in fnmatch.filter(files_lib.list_dir(evaluated), chain_pattern):
    folder = files_lib.join(evaluated, chain)
    for name in fnmatch.filter(files_lib.list_dir(folder), file_pattern):
      yield chain, name, files_lib.join(folder, name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Copy(Stage):
  """A run's eval/metrics.json, the config.json of `copy_phases` and the figures that exist
  (`copy_figures`: eval/<chain>/<figure> patterns) into the results folder `copy_to`, laid out as
  OUT/<chain>_<figure> ('prefixed'), OUT/<chain>/<figure> ('folders') or OUT/<figure> ('flat').
  Never done: it is cheap and refreshes what it writes."""
  kind: ClassVar[str] = 'copy'
  timed: ClassVar[bool] = False
  copy_to: str
  copy_phases: tuple[str, ...] = ()
  copy_figures: tuple[str, ...] = ()
  copy_layout: str = 'prefixed'

  def copy(self) -> list[str]:
    """Copies; returns the paths written. The run is read through the work-directory modules
    (local or gs://); the results folder is local (committed)."""
    from vaeglow_jax.io import files as files_lib, workdir as workdir_lib
    out = self.copy_to
    sources = [(workdir_lib.metrics_path(self.workdir), 'metrics.json')]
    sources += [(workdir_lib.config_path(self.workdir, phase),
                 'config.json' if len(self.copy_phases) == 1 else f'config_{phase}.json')
                for phase in self.copy_phases]
    for figure in self.copy_figures:
      sources += [(path, {'prefixed': f'{chain}_{name}', 'folders': os.path.join(chain, name)}.get(
          self.copy_layout, name)) for chain, name, path in _figures(self.workdir, figure)]
    written = []
    for source, name in sources:
      data = files_lib.read_bytes(source)  # before anything is written: a missing file writes nothing
      written.append(os.path.join(out, name))
      os.makedirs(os.path.dirname(written[-1]), exist_ok=True)
      with open(written[-1], 'wb') as f:
        f.write(data)
    return written

  def run(self, runner=None) -> int:
    self.copy()
    return 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fork(Stage):
  """A copy of the trained work directory `fork_from` in `workdir`, where a longer training
  resumes from its checkpoints; the metrics.json entries `fork_drop` (and their eval/ folders)
  are left out, which the further training will replace."""
  kind: ClassVar[str] = 'fork'
  timed: ClassVar[bool] = False
  fork_from: str
  fork_drop: tuple[str, ...] = ()

  def is_done(self) -> bool:
    from vaeglow_jax.io import files as files_lib
    done = files_lib.read_json(files_lib.join(self.workdir, FORK_DONE))
    return done is not None and done.get('source') == self.fork_from

  def fork(self) -> list[str]:
    """Copies every phase's checkpoints, configs and logs, and the evaluations but fork_drop's;
    returns the relative paths copied. Either may be local or gs://. A work directory already
    there is refused unless it is this fork, interrupted (then copied again)."""
    from vaeglow_jax.io import checkpoints, files as files_lib, workdir as workdir_lib
    target, source = self.workdir, self.fork_from
    if not files_lib.is_dir(source):
      raise StageError(f'fork: {source} is no work directory; train it first (the recipe that '
                       'writes it), or give the right root.')
    partial = files_lib.join(target, FORK_PARTIAL)
    in_progress = files_lib.read_json(partial)
    if files_lib.list_dir(target) and (  # [] for a folder that is not there
        in_progress is None or in_progress.get('source') != source):
      raise StageError(f'fork: {target} exists and is not a copy of {source}; remove it or choose '
                       'another root (nothing was written).')
    files_lib.write_json_atomic(partial, {'source': source})
    # The dropped evaluations' folders are not copied at all (eval_dir of '' is 'eval/<key>').
    copied = files_lib.copy_tree(
        source, target, skip=tuple(workdir_lib.eval_dir('', key) for key in self.fork_drop))
    metrics = workdir_lib.read_metrics(target)
    for key in self.fork_drop:
      metrics.pop(key, None)
    if files_lib.is_file(workdir_lib.metrics_path(target)):  # rewritten even when now empty
      files_lib.write_json_atomic(workdir_lib.metrics_path(target), metrics, indent=2)
    # The copy is verified before it is marked done: a bad transfer is never trained on.
    for folder in checkpoints.checkpoint_dirs(target):
      damaged = []
      for step in workdir_lib.finished_steps(folder):  # the files against their saved CRCs
        try:
          checkpoints.check_files(folder, step, checkpoints.read_fingerprints(folder, step))
        except checkpoints.DamagedCheckpoint:
          damaged.append(step)
      if damaged:
        raise StageError(f'fork: the copy of {folder} has damaged checkpoint(s) {damaged} (their '
                         'files or arrays differ from the fingerprints saved with them); check the '
                         f'source with python -m experiments.verify --workdir={source}, then rerun.')
    files_lib.write_json_atomic(files_lib.join(target, FORK_DONE),
                                {'source': source, 'dropped': list(self.fork_drop)})
    files_lib.remove_tree(partial)
    return copied

  def run(self, runner=None) -> int:
    self.fork()
    return 0


def run(stages: list[Stage], out: str = '', runner=subprocess.call, log=print) -> int:
  """Runs each stage that is not done, in order; returns 0, or the first failed stage's exit
  status. `runner` takes a command line and returns its exit status."""
  for number, stage in enumerate(stages, 1):
    if stage.is_done():
      continue
    log(f'== {number}/{len(stages)}: {stage.label} ==')
    sys.stdout.flush()  # before the stage's own output
    start = time.time()
    status = stage.run(runner)
    if status:
      log(f'stage {stage.label!r} failed (exit {status}); rerun the same command to go on from it.')
      return status
    if out and stage.timed:
      os.makedirs(out, exist_ok=True)
      with open(os.path.join(out, 'runs.tsv'), 'a') as f:
        f.write(f'{stage.label}\t{time.time() - start:.0f}\t'
                f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}\n')
  return 0
