"""The models of a config's `model` group, built in one place.

A config group's keys are the fields of the module it builds (`Encoder`, `Decoder`,
`GlowLayer`, `MultiScaleGlow`, the priors, `SecondStageVAE`, the FID `Classifier`) or of the `StepOptions` its flow
steps take, so a module takes every key of its group that names one of its fields, and a
field's default is written once, on the module (`field_defaults`, which `config.schema` reads).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn

from vaeglow_jax.flows import StepOptions
from vaeglow_jax.models.classifier import Classifier
from vaeglow_jax.models.glow import GlowLayer, MultiScaleGlow
from vaeglow_jax.models.model import VAEGlow
from vaeglow_jax.models.prior import PRIOR_KINDS, SecondStageVAE, StandardPrior
from vaeglow_jax.models.vae import Decoder, Encoder

# model.gamma.update: 'optimal' sets log gamma in closed form; 'gradient' learns it.
GAMMA_UPDATES = ('optimal', 'gradient')
_LINEN_FIELDS = ('parent', 'name')


def _fields(cls) -> list[dataclasses.Field]:
  return [f for f in dataclasses.fields(cls) if f.name not in _LINEN_FIELDS]


def field_defaults(cls, exclude: tuple[str, ...] = ()) -> dict:
  """{field: default} of a Linen module or dataclass, for fields that have a default."""
  return {f.name: f.default for f in _fields(cls)
          if f.default is not dataclasses.MISSING and f.name not in exclude}


def from_group(cls, group, **given):
  """cls built from the keys of `group` (a config group or dict) that name its fields, and
  `given` (fields the group does not hold, or holds in another form)."""
  values = {f.name: group[f.name] for f in _fields(cls) if f.name in group and f.name not in given}
  return cls(**values, **given)


def step_options(flow_group) -> StepOptions:
  """The StepOptions of a model.glow or model.baseline group; a key a config saved by an
  older version lacks takes StepOptions' default. ValueError names a bad value."""
  values = {f.name: flow_group[f.name] for f in dataclasses.fields(StepOptions)
            if f.name in flow_group}
  if 'layers' in values:  # a tuple: the options are a (hashable) attribute of Linen modules
    values['layers'] = tuple(values['layers'])
  return StepOptions(**values)


def prior(prior_group) -> nn.Module:
  """The latent prior `prior_group['kind']` names (models.prior.PRIOR_KINDS), with the group's
  num_layers, hidden, num_hidden and unroll. ValueError names an unknown kind."""
  kind = prior_group['kind']
  if kind not in PRIOR_KINDS:
    raise ValueError(f'model.prior.kind must be one of {list(PRIOR_KINDS)}, got {kind!r}.')
  if PRIOR_KINDS[kind] is StandardPrior:
    return StandardPrior()
  return from_group(PRIOR_KINDS[kind], prior_group)


def vae(model_group, image_shape, with_glow: bool) -> VAEGlow:
  """The VAEGlow of a `model` group for images of image_shape (H, W, C); its Glow layer (from
  model.glow) only if with_glow."""
  glow = (from_group(GlowLayer, model_group.glow, step=step_options(model_group.glow))
          if with_glow else None)
  return VAEGlow(encoder=from_group(Encoder, model_group),
                 decoder=from_group(Decoder, model_group, image_shape=tuple(image_shape),
                                    log_gamma_init=model_group.gamma.init),
                 prior=prior(model_group.prior), glow=glow)


def second_stage(model_group) -> SecondStageVAE:
  """Dai & Wipf's second stage of a `model` group (model.second_stage's width and depth)."""
  return from_group(SecondStageVAE, model_group.second_stage, latent_dim=model_group.latent_dim,
                    log_gamma_init=model_group.gamma.init)


def classifier(feature_extractor_group, num_classes: int) -> Classifier:
  """The FID classifier of config.feature_extractor (widths, feature_dim, arch; a config saved
  before `arch` existed takes the default)."""
  return from_group(Classifier, feature_extractor_group, num_classes=num_classes,
                    widths=tuple(feature_extractor_group.widths))


def glow_baseline(model_group) -> MultiScaleGlow:
  """The multi-scale Glow of model.baseline."""
  return from_group(MultiScaleGlow, model_group.baseline,
                    step=step_options(model_group.baseline))
