r"""Evaluates a trained phase: test bits/dim (ELBO and importance-weighted), FID with a
temperature sweep, figures, seconds per epoch.

  vaeglow-evaluate --workdir=workdirs/fashion_mnist_quick --config.phase=glow \
      --config.eval.feature_extractor_dir=workdirs/feature_extractor/fashion_mnist \
      [--config.eval.inception_weights=inception_fid.npz] [--config.eval.KEY=VALUE ...]

(In a clone: python -m experiments.evaluate with the same flags.)

Without --config, the model and data are those the phase was trained with
(WORKDIR/<phase>/config.json); only --config.phase, eval.*, sampling.*, num_devices,
stage1_workdir, multihost and distributed.* may be set. With --config=FILE[:preset] (and
overrides), the config must match the trained one in model.* and data.*. Writes
WORKDIR/eval/metrics.json ({phase: metrics}) and figures under WORKDIR/eval/<phase>/.
Exit codes: 0 done; 2 bad input (one line on stderr, nothing written).
"""

import contextlib
import json
import os
import signal
import tempfile

from absl import flags

from vaeglow_jax.cli import common as cli

_FROM_WORKDIR = os.path.join(cli.CONFIGS_DIR, 'from_workdir.py')
_FLAGS = {}  # name -> absl FlagHolder, filled by _define_flags


def _define_flags() -> None:
  """The command's flags, defined when it runs (so that importing it defines none: the
  commands share flag names)."""
  cli.define_config_and_workdir(
      _FLAGS, 'Work directory of the trained model.', config_default=_FROM_WORKDIR,
      config_help='Config file (path[:preset]); default: the one the phase was trained with, '
                  'from the work directory.')


def evaluation_config(launch):
  """`launch` (--config and its overrides) when --config was given, else the trained config
  plus the overrides."""
  from vaeglow_jax.config import history
  if flags.FLAGS['config'].present:
    return launch
  overrides = cli.overrides(flags.FLAGS['config'])
  trained = history.trained_config(flags.FLAGS.workdir, launch.phase, launch)
  return history.with_overrides(trained, overrides)


class _Terminated(Exception):
  """SIGTERM arrived during the evaluation."""


@contextlib.contextmanager
def _sigterm_raises():
  """SIGTERM raises _Terminated in the main thread (between Python bytecodes) while inside."""
  def handle(signum, frame):
    del signum, frame
    raise _Terminated()
  previous = signal.signal(signal.SIGTERM, handle)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


def main(argv):
  del argv
  from vaeglow_jax.runtime import distributed
  from vaeglow_jax.io import files as files_lib
  from vaeglow_jax.io import workdir
  from vaeglow_jax.evaluation import evaluator as evaluation
  from vaeglow_jax.evaluation import loading
  # The launch settings (multihost, distributed.*), never read from config.json.
  launch = cli.config(_FLAGS['config'])
  # Join the other processes first, so that an error reading the trained config on one host
  # (a refused override, a work directory it cannot see) ends every process with its line.
  distributed.initialize(launch)
  config = distributed.check_together('vaeglow_eval_config', lambda: evaluation_config(launch))
  metrics_path = workdir.metrics_path(flags.FLAGS.workdir)
  own_dir = workdir.eval_dir(flags.FLAGS.workdir, loading.result_name(config))
  eval_root = files_lib.dirname(metrics_path)
  primary = distributed.is_primary()
  with tempfile.TemporaryDirectory(prefix='vaeglow_eval_') as kept:
    # What an evaluation writes, as it was: its own folder eval/<key>/ and metrics.json (a stop
    # midway leaves them half rewritten). Other evaluations' folders it never touches, so they
    # are not copied.
    had_root = primary and files_lib.is_dir(eval_root)
    had_dir = primary and files_lib.is_dir(own_dir)
    old_metrics = (files_lib.read_bytes(metrics_path)
                   if primary and files_lib.is_file(metrics_path) else None)
    if had_dir:
      files_lib.copy_tree(own_dir, kept)
    try:
      with _sigterm_raises():
        metrics = evaluation.evaluate(config, flags.FLAGS.workdir)
    except _Terminated:
      if primary:
        files_lib.remove_tree(eval_root if not had_root else own_dir)
        if had_dir:
          files_lib.copy_tree(kept, own_dir)
        if old_metrics is not None:
          files_lib.write_bytes_atomic(metrics_path, old_metrics)
        elif had_root:
          files_lib.remove_tree(metrics_path)
      cli.fail('stopped by SIGTERM during the evaluation; the work directory is as it was (what '
               'the evaluation had written is undone): rerun the same command to evaluate.',
               cli.EXIT_PREEMPTED)
  if not primary:  # process 0 wrote and reports the metrics
    return
  shown = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
  print(json.dumps(shown, indent=1, sort_keys=True))
  print(f'metrics: {metrics_path}; figures: {own_dir}/')


def run():
  """The `vaeglow-evaluate` console script."""
  _define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
