r"""Draws N samples from a trained phase as one PNG per image plus one npz.

  python -m experiments.sample --workdir=DIR [--config.phase=glow] --num=N [--temperature=T] \
      [--seed=S] [--out=DIR/<phase>/samples_T<T>/] [--config.eval.prior_phase=prior]

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
from ml_collections import config_flags

from experiments import cli
from vaeglow_jax.errors import UserError

_FROM_WORKDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs', 'from_workdir.py')
_CONFIG = config_flags.DEFINE_config_file(
    'config', _FROM_WORKDIR, 'Only overrides: the model comes from the work directory.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Work directory of the trained model.')
_NUM = flags.DEFINE_integer('num', 64, 'Number of images.')
_TEMPERATURE = flags.DEFINE_float('temperature', None, 'Sampling temperature T >= 0 (default: '
                                  "the phase's sampling.temperature; only Glow phases use it).")
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed: the same seed gives the same images.')
_OUT = flags.DEFINE_string('out', '', 'Output folder (default DIR/<phase>/samples_T<T>/); it must '
                           'not hold files yet.')
flags.mark_flags_as_required(['workdir'])


class SampleError(UserError, ValueError):
  """Bad input to experiments.sample; the message says how to fix it."""


def sample_config(launch):
  from vaeglow_jax.config import history
  overrides = cli.overrides(flags.FLAGS['config'])
  if 'phase' not in overrides:
    from vaeglow_jax.evaluation import trained_run
    overrides['phase'] = trained_run.last_trained_phase(_WORKDIR.value)
  trained = history.trained_config(_WORKDIR.value, overrides['phase'], launch)
  return history.with_overrides(trained, overrides)


def main(argv):
  del argv
  import jax
  from vaeglow_jax import distributed, phases, sharding
  from vaeglow_jax.config import checks as config_checks
  from vaeglow_jax.evaluation import evaluator as evaluation
  from vaeglow_jax.evaluation import sampling
  from vaeglow_jax import images as images_lib
  from vaeglow_jax import workdir as workdir_lib
  launch = cli.config(_CONFIG)
  distributed.initialize(launch)

  def checks():
    config = sample_config(launch)
    if _NUM.value <= 0:
      raise SampleError(f'--num must be positive, got {_NUM.value}.')
    temperature = config.sampling.temperature if _TEMPERATURE.value is None else _TEMPERATURE.value
    if not 0 <= temperature < float('inf'):  # NaN fails this too
      raise SampleError(f'--temperature must be a finite number >= 0, got {temperature:g}.')
    image_shape = config_checks.validate_config(config)
    mesh = sharding.make_mesh(config.num_devices or None)
    sharding.check_batch_size(config.eval.batch_size, mesh, 'eval.batch_size')
    evaluation.checkpoints_dir_of(config, _WORKDIR.value)
    evaluation.check_prior_phase(config, _WORKDIR.value)
    out = _OUT.value or workdir_lib.join(_WORKDIR.value, evaluation.result_name(config),
                                         f'samples_T{temperature:g}')
    if workdir_lib.exists(out) and not workdir_lib.is_dir(out):
      raise SampleError(f'--out {out} is a file, not a folder; pass a folder path for the images.')
    if workdir_lib.list_dir(out):
      raise SampleError(f'{out} already holds files; pass another --out, or move them away.')
    return config, float(temperature), image_shape, mesh, out

  config, temperature, image_shape, mesh, out = distributed.check_together(
      'vaeglow_sample_checks', checks)
  phase = phases.build(config, image_shape)
  variables, step = evaluation.load_variables(config, _WORKDIR.value, phase)
  if config.eval.prior_phase:
    phase, variables, _ = evaluation.load_chain(config, _WORKDIR.value, variables, image_shape)
  images = sampling.draw(phase, variables, jax.random.PRNGKey(_SEED.value), _NUM.value, temperature,
                         config.eval.batch_size, mesh,
                         log=logging.info if distributed.is_primary() else None)
  if distributed.is_primary():
    names = images_lib.write_folder(out, images)
    print(f'{len(names)} samples of {evaluation.result_name(config)} (checkpoint step {step}, '
          f'T={temperature:g}, seed {_SEED.value}): {out}/ ({names[0]} ... {names[-1]}, samples.npz)')


def run():
  """The `vaeglow-sample` console script."""
  cli.run(main)


if __name__ == '__main__':
  run()
