"""A stage of a recipe (experiments.recipes), whether it is done, and running a list of them.

`run` runs each stage that is not done, in order, each command in its own process; a copy stage
copies a run's results into a (local, committed) results folder, and a fork stage copies a
trained work directory to train it further elsewhere.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import os
import subprocess
import sys
import time

from vaeglow_jax import errors

# A fork stage's work directory: FORK_DONE (written last) records what it was copied from; FORK_PARTIAL
# (written first) marks a copy in progress, which a rerun may replace.
FORK_DONE = 'forked_from.json'
FORK_PARTIAL = 'forking_from.json'


class StageError(errors.UserError, RuntimeError):
  """A stage cannot run as asked (e.g. a fork onto a work directory that is not its own)."""


@dataclasses.dataclass(frozen=True)
class Stage:
  """One command of a recipe.

  kind: 'train' (experiments.train), 'evaluate', 'features' (experiments.train_feature_extractor),
    'copy' (a run's metrics, configs and figures into a results folder), 'report', 'run' (a
    module that creates one file) or 'fork' (a copy of the work directory `fork_from`).
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
  # 'fork': the trained work directory copied to `workdir`, and the metrics.json entries (with
  # their eval/<entry>/ folders) left out, which the further training will replace.
  fork_from: str = ''
  fork_drop: tuple[str, ...] = ()

  @property
  def result_key(self) -> str:
    """An evaluation's metrics.json key (as evaluation.loading.result_name gives it)."""
    from vaeglow_jax.evaluation.metrics import keys
    return keys.result_key(self.phase, self.prior_phase)


def is_done(stage: Stage) -> bool:
  """Whether `stage`'s result is already there (a copy or a report is never 'done': both are
  cheap and refresh what they write)."""
  from vaeglow_jax.io import workdir as workdir_lib
  from vaeglow_jax.io import files as files_lib
  if stage.kind == 'train':
    steps = last_step(stage)
    return steps is not None and steps in workdir_lib.finished_steps(
        workdir_lib.checkpoints_dir(stage.workdir, stage.phase))
  if stage.kind == 'evaluate':
    return stage.result_key in workdir_lib.read_metrics(stage.workdir)
  if stage.kind == 'features':
    return files_lib.is_file(files_lib.join(stage.workdir,
                                                workdir_lib.FEATURE_EXTRACTOR_INFO))
  if stage.kind == 'run':
    return files_lib.is_file(stage.creates)
  if stage.kind == 'fork':
    done = files_lib.read_json(files_lib.join(stage.workdir, FORK_DONE))
    return done is not None and done.get('source') == stage.fork_from
  return False


def last_step(stage: Stage) -> int | None:
  """A train stage's last step: `steps`, or the value in its steps_from file (None while the
  stage that writes it has not run)."""
  from vaeglow_jax.io import files as files_lib
  if not stage.steps_from:
    return stage.steps
  path, _, key = stage.steps_from.rpartition(':')
  values = files_lib.read_json(path)
  return None if values is None else int(values[key])


COMMANDS = {'train': 'experiments.train', 'evaluate': 'experiments.evaluate',
            'features': 'experiments.train_feature_extractor', 'report': 'experiments.report'}


def command(stage: Stage) -> list[str]:
  """The command line of a train, evaluate, features, report or run stage."""
  flags = list(stage.flags)
  if stage.kind == 'train' and stage.steps_from:
    flags.append(f'--config.num_train_steps={last_step(stage)}')
  return [sys.executable, '-m', stage.module or COMMANDS[stage.kind], *flags]


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


def copy_run(stage: Stage) -> list[str]:
  """A run's eval/metrics.json, its phases' config.json (config_<phase>.json when several) and
  the figures that exist, into stage.copy_to; returns the paths written. The run is read
  through the work-directory module (local or gs://); the results folder is local (committed)."""
  from vaeglow_jax.io import workdir as workdir_lib
  from vaeglow_jax.io import files as files_lib
  out = stage.copy_to
  sources = [(workdir_lib.metrics_path(stage.workdir), 'metrics.json')]
  sources += [(workdir_lib.config_path(stage.workdir, phase),
               'config.json' if len(stage.copy_phases) == 1 else f'config_{phase}.json')
              for phase in stage.copy_phases]
  for figure in stage.copy_figures:
    sources += [(path, {'prefixed': f'{chain}_{name}', 'folders': os.path.join(chain, name)}.get(
        stage.copy_layout, name)) for chain, name, path in _figures(stage.workdir, figure)]
  written = []
  for source, name in sources:
    data = files_lib.read_bytes(source)  # before anything is written: a missing file writes nothing
    written.append(os.path.join(out, name))
    os.makedirs(os.path.dirname(written[-1]), exist_ok=True)
    with open(written[-1], 'wb') as f:
      f.write(data)
  return written


def fork_run(stage: Stage) -> list[str]:
  """Copies the work directory stage.fork_from (every phase's checkpoints, configs and logs, and
  its evaluations but stage.fork_drop's) to stage.workdir, where a longer training resumes from
  its checkpoints; returns the relative paths copied. Either may be local or gs://. A work
  directory already there is refused unless it is this fork, interrupted (then copied again)."""
  from vaeglow_jax.io import workdir as workdir_lib
  from vaeglow_jax.io import files as files_lib
  target, source = stage.workdir, stage.fork_from
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
      source, target, skip=tuple(workdir_lib.eval_dir('', key) for key in stage.fork_drop))
  metrics = workdir_lib.read_metrics(target)
  for key in stage.fork_drop:
    metrics.pop(key, None)
  if files_lib.is_file(workdir_lib.metrics_path(target)):  # rewritten even when now empty
    files_lib.write_json_atomic(workdir_lib.metrics_path(target), metrics, indent=2)
  # The copy is verified before it is marked done: a bad transfer is never trained on.
  from vaeglow_jax.io import checkpoints
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
                                {'source': source, 'dropped': list(stage.fork_drop)})
  files_lib.remove_tree(partial)
  return copied


# The kinds this process does itself, no command run.
IN_PROCESS = {'copy': copy_run, 'fork': fork_run}


def run(stages: list[Stage], out: str = '', runner=subprocess.call, log=print) -> int:
  """Runs each stage that is not done, in order; returns 0, or the first failed stage's exit
  status. `runner` takes a command line and returns its exit status."""
  for number, stage in enumerate(stages, 1):
    if is_done(stage):
      continue
    log(f'== {number}/{len(stages)}: {stage.label} ==')
    sys.stdout.flush()  # before the stage's own output
    start = time.time()
    if stage.kind in IN_PROCESS:
      IN_PROCESS[stage.kind](stage)
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
