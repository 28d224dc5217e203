"""A trained phase loaded for evaluation: its config checked against the config.json it was
trained with, its newest checkpoint checked against the model, and chains: a VAE phase sampled
from another phase's latent prior (`eval.prior_phase`). A chain kind is a phase-table entry with
a `prior_key` (phases.SPECS); nothing here names a phase."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax import phases
from vaeglow_jax.config import history
from vaeglow_jax.config import resume
from vaeglow_jax.errors import UserError
from vaeglow_jax.evaluation.metrics import keys
from vaeglow_jax.io import checkpoints
from vaeglow_jax.io import workdir as workdir_lib


class EvaluationError(UserError, ValueError):
  """A problem the user can fix; the message says how."""


def check_config_matches(config, workdir: str) -> None:
  """config's model and data must describe the parameters config.phase was trained with (its
  config.json), as a resumed run's must (config.resume; keys that only change how a step is
  computed may differ)."""
  saved = workdir_lib.saved_config(workdir, config.phase)
  every_group = {resume.ENCODER_DECODER, *phases.PARAMETER_KEYS}
  for key, value, saved_value in resume.config_differences(config, saved, every_group)[:1]:
    raise EvaluationError(f'{key} is {value!r} but phase {config.phase!r} was trained with '
                          f'{saved_value!r}: pass --config.{key}={saved_value} (evaluate with the '
                          'training config).')


def checkpoints_dir_of(config, workdir: str) -> str:
  """config.phase's checkpoints directory; raises unless it holds a checkpoint (no collective)."""
  directory = workdir_lib.checkpoints_dir(workdir, config.phase)
  if not workdir_lib.has_checkpoint(directory):
    raise EvaluationError(f'no checkpoint in {directory}; train phase {config.phase!r} first.')
  return directory


def load_variables(config, workdir: str, phase: phases.Phase):
  """The latest checkpoint's variables of config.phase, checked against the model. -> (variables, step)."""
  return checkpoints.load_checked(checkpoints_dir_of(config, workdir), abstract_variables(phase),
                                  f'the checkpoint of phase {config.phase!r}',
                                  f'train phase {config.phase!r} first.')


def abstract_variables(phase: phases.Phase):
  """The shapes and dtypes of phase's model variables (jax.eval_shape of its init)."""
  shape = (2,) + phase.image_shape
  return jax.eval_shape(phase.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct(shape, jnp.float32))


def fit_to_model(phase: phases.Phase, variables, where: str):
  """variables (restored arrays) checked against phase's model and cast to its dtypes
  (checkpoints.fit); extra keys dropped. where: named in the error."""
  return checkpoints.fit(variables, abstract_variables(phase), where)


def result_name(config) -> str:
  """The metrics.json key and eval/ folder of an evaluation: the phase, or 'PHASE+PRIOR' when it
  samples from another phase's latent prior (eval.prior_phase)."""
  return keys.result_key(config.phase, config.eval.get('prior_phase', ''))


def check_prior_phase(config, workdir: str) -> None:
  """eval.prior_phase names a trained phase whose prior config.phase's model can sample from."""
  prior_phase = config.eval.get('prior_phase', '')
  if not prior_phase:
    return
  if config.phase not in phases.VAE_PHASES or prior_phase not in phases.PRIOR_KEYS:
    raise EvaluationError(f'--config.eval.prior_phase={prior_phase} with phase {config.phase!r}: '
                          f'a chain is a VAE phase ({", ".join(phases.VAE_PHASES)}) sampled from the prior '
                          f'of one of {", ".join(phases.PRIOR_KEYS)}; pick one of those.')
  directory = workdir_lib.checkpoints_dir(workdir, prior_phase)
  if not workdir_lib.has_checkpoint(directory):
    raise EvaluationError(f'no checkpoint in {directory} for --config.eval.prior_phase='
                          f'{prior_phase}; train phase {prior_phase!r} first.')


def load_chain(config, workdir: str, variables, image_shape):
  """config.phase's variables with the latent prior of eval.prior_phase (same work directory)
  put in -> (the chain's Phase, its variables, the prior checkpoint's step). Both phases must
  hold the same phase-1 encoder and decoder (bitwise), else one EvaluationError."""
  prior_config = history.trained_config(workdir, config.eval.prior_phase, config)
  prior_model = phases.build(prior_config, image_shape)
  prior_variables, prior_step = load_variables(prior_config, workdir, prior_model)
  for key in ('encoder', 'decoder'):
    same = jax.tree_util.tree_all(jax.tree_util.tree_map(
        lambda a, b: bool(np.array_equal(np.asarray(a), np.asarray(b))),
        variables['params'][key], prior_variables['params'][key]))
    if not same:
      raise EvaluationError(f'phases {config.phase!r} and {prior_config.phase!r} in {workdir} were '
                            f'trained on different phase-1 models (their {key}s differ); retrain '
                            f'{prior_config.phase!r} on the same phase 1.')
  key = phases.PRIOR_KEYS[prior_config.phase]
  merged = dict(variables)
  for collection, tree in prior_variables.items():
    if key in tree:
      merged[collection] = {**merged.get(collection, {}), key: tree[key]}
  chain = phases.build_chain(config, prior_config, image_shape)
  return chain, fit_to_model(chain, merged, f'the chain {result_name(config)}'), prior_step
