r"""Calibrates the FID feature spaces: how FID, KID and precision/recall respond to blur,
pixel noise and missing classes, against the floor of clean training images.

  python -m experiments.fid_calibration --config=fashion_mnist:quick \
      --workdir=workdirs/fid_calibration/fashion_mnist \
      --config.eval.feature_extractor_dir=workdirs/feature_extractor/fashion_mnist \
      [--config.eval.inception_weights=inception_fid.npz] [--config.calibration.KEY=VALUE ...]

Writes WORKDIR/fid_calibration.json and WORKDIR/fid_calibration.png
(vaeglow_jax/evaluation/calibration.py says what each number is). Exit codes: 0 done; 2 bad input.
"""

import os

from absl import flags
from ml_collections import config_flags

from vaeglow_jax.cli import common as cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config: NAME[:PRESET] (e.g. fashion_mnist:quick) or a file path.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  del argv
  from vaeglow_jax.evaluation import calibration
  result = calibration.calibrate(cli.config(_CONFIG), _WORKDIR.value)
  for name, space in result['spaces'].items():
    summary = space['summary']
    line = f"{name}: floor FID {summary['floor_fid']:.2f}"
    if 'noise_over_blur_at_equal_rmse' in summary:
      line += (f"; at the pixel RMSE of a {summary['blur_sigma']:g}-px blur, noise raises FID "
               f"{summary['noise_over_blur_at_equal_rmse']:.2f}x (KID: "
               f"{summary['noise_over_blur_at_equal_rmse_kid']:.2f}x) as much as the blur")
    print(line)
  print(f'wrote {os.path.join(_WORKDIR.value, "fid_calibration.json")} and fid_calibration.png')


if __name__ == '__main__':
  cli.run(main)
