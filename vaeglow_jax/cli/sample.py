r"""Draws N samples from a trained phase as one PNG per image plus one npz.

  vaeglow-sample --workdir=DIR [--config.phase=glow] --num=N [--temperature=T] \
      [--seed=S] [--out=DIR/<phase>/samples_T<T>/] [--config.eval.prior_phase=prior]

(In a clone: python -m experiments.sample with the same flags.)

Default phase: the last trained one (the newest checkpoint in DIR). The model is the one the
phase was trained with (DIR/<phase>/config.json); only --config.phase, eval.*, sampling.*,
num_devices and the launch settings may be set. The files: 000000.png, ... (8-bit, the data's
shape: grayscale or RGB) and samples.npz ('x': uint8 (N, H, W, C)), the same pixels; a folder
that FID tools (pytorch-fid, clean-fid, torch-fidelity) read as it is. Deterministic in --seed
for any number of devices. Exit codes: 0 done; 2 bad input (one line, nothing written).
"""

import os

from absl import flags
from absl import logging

from vaeglow_jax.cli import common as cli
from vaeglow_jax.errors import UserError

_FROM_WORKDIR = os.path.join(cli.CONFIGS_DIR, 'from_workdir.py')
_FLAGS = {}  # name -> absl FlagHolder, filled by _define_flags


def _define_flags() -> None:
  """The command's flags, defined when it runs (so that importing it defines none: the
  commands share flag names)."""
  cli.define_config_and_workdir(
      _FLAGS, 'Work directory of the trained model.', config_default=_FROM_WORKDIR,
      config_help='Only overrides: the model comes from the work directory.')
  _FLAGS['num'] = flags.DEFINE_integer('num', 64, 'Number of images.')
  _FLAGS['temperature'] = flags.DEFINE_float(
      'temperature', None, "Sampling temperature T >= 0 (default: the phase's "
      'sampling.temperature; only Glow phases use it).')
  _FLAGS['seed'] = flags.DEFINE_integer('seed', 0,
                                        'Random seed: the same seed gives the same images.')
  _FLAGS['out'] = flags.DEFINE_string(
      'out', '', 'Output folder (default DIR/<phase>/samples_T<T>/); it must not hold files yet.')


class SampleError(UserError, ValueError):
  """Bad input to experiments.sample; the message says how to fix it."""


def sample_config(launch):
  from vaeglow_jax.config import history
  overrides = cli.overrides(flags.FLAGS['config'])
  if 'phase' not in overrides:
    from vaeglow_jax.evaluation import trained_run
    overrides['phase'] = trained_run.last_trained_phase(flags.FLAGS.workdir)
  trained = history.trained_config(flags.FLAGS.workdir, overrides['phase'], launch)
  return history.with_overrides(trained, overrides)


def _check_writable(out: str) -> None:
  """A SampleError unless a folder can be made in `out` (made and removed again: a probe, since
  permission bits do not bind every user); leaves `out` as it was."""
  from vaeglow_jax.io import files as files_lib
  existed = files_lib.exists(out)
  probe = files_lib.join(out, '.vaeglow_write_probe')
  try:
    files_lib.make_dirs(probe)
    files_lib.remove_tree(probe if existed else out)
  except OSError as e:
    raise SampleError(f'cannot write into {out} ({e.strerror or e}); pass a writable --out, or '
                      'make that folder writable.') from None


def main(argv):
  del argv
  import jax
  from vaeglow_jax import phases
  from vaeglow_jax.runtime import distributed
  from vaeglow_jax.io import files as files_lib
  from vaeglow_jax.runtime import sharding
  from vaeglow_jax.config import checks as config_checks
  from vaeglow_jax.evaluation import loading
  from vaeglow_jax.evaluation import sampling
  from vaeglow_jax import images as images_lib
  launch = cli.config(_FLAGS['config'])
  distributed.initialize(launch)

  def checks():
    config = sample_config(launch)
    if flags.FLAGS.num <= 0:
      raise SampleError(f'--num must be positive, got {flags.FLAGS.num}.')
    temperature = flags.FLAGS.temperature
    if temperature is None:
      temperature = config.sampling.temperature
    if not 0 <= temperature < float('inf'):  # NaN fails this too
      raise SampleError(f'--temperature must be a finite number >= 0, got {temperature:g}.')
    image_shape = config_checks.validate_config(config)
    mesh = sharding.make_mesh(config.num_devices or None)
    sharding.check_batch_size(config.eval.batch_size, mesh, 'eval.batch_size')
    loading.checkpoints_dir_of(config, flags.FLAGS.workdir)
    loading.check_prior_phase(config, flags.FLAGS.workdir)
    out = flags.FLAGS.out or files_lib.join(flags.FLAGS.workdir, loading.result_name(config),
                                              f'samples_T{temperature:g}')
    if files_lib.exists(out) and not files_lib.is_dir(out):
      raise SampleError(f'--out {out} is a file, not a folder; pass a folder path for the images.')
    if files_lib.list_dir(out):
      raise SampleError(f'{out} already holds files; pass another --out, or move them away.')
    _check_writable(out)
    return config, float(temperature), image_shape, mesh, out

  config, temperature, image_shape, mesh, out = distributed.check_together(
      'vaeglow_sample_checks', checks)
  phase = phases.build(config, image_shape)
  variables, step = loading.load_variables(config, flags.FLAGS.workdir, phase)
  if config.eval.prior_phase:
    phase, variables, _ = loading.load_chain(config, flags.FLAGS.workdir, variables, image_shape)
  seed = flags.FLAGS.seed
  images = sampling.draw(phase, variables, jax.random.PRNGKey(seed), flags.FLAGS.num, temperature,
                         config.eval.batch_size, mesh,
                         log=logging.info if distributed.is_primary() else None)
  if distributed.is_primary():
    names = images_lib.write_folder(out, images)
    print(f'{len(names)} samples of {loading.result_name(config)} (checkpoint step {step}, '
          f'T={temperature:g}, seed {seed}): {out}/ ({names[0]} ... {names[-1]}, samples.npz)')


def run():
  """The `vaeglow-sample` console script."""
  _define_flags()
  cli.run(main)


if __name__ == '__main__':
  run()
