"""The default of `experiments.evaluate --config`: no config file given.

Evaluation then reads the config the phase was trained with from WORKDIR/<phase>/config.json,
on top of these base keys (for keys added since the run); only --config.phase, eval.*,
sampling.*, num_devices and stage1_workdir may be overridden.
"""

from vaeglow_jax.presets import common


def get_config():
  return common.base_config()
