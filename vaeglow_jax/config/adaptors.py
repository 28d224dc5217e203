"""Config groups as the objects the models take."""

from __future__ import annotations

import dataclasses

from vaeglow_jax.flows import StepOptions

GAMMA_UPDATES = ('optimal', 'gradient')


def gamma_config(model_config) -> dict:
  """model.gamma as a dict {'update', 'init', 'learning_rate'} (a config saved before it
  existed gets its keys in history.trained_config, like every other key added since)."""
  return dict(model_config.gamma)


def step_options(flow_config) -> StepOptions:
  """The StepOptions of config.model.glow or .baseline; a key that a config saved by an older
  version lacks takes StepOptions' default. ValueError names a bad value."""
  values = {f.name: flow_config[f.name] for f in dataclasses.fields(StepOptions)
            if f.name in flow_config}
  if 'layers' in values:  # a tuple: the options are a (hashable) attribute of Linen modules
    values['layers'] = tuple(values['layers'])
  return StepOptions(**values)
