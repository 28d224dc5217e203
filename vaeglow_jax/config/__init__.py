"""A run's config, in one place: what keys it has, which values work, and its history.

- `schema`: every key with its default (`defaults()`); presets are small deltas on it.
- `checks`: the values checked before anything runs (training, evaluation, the FID classifier),
  each bad value named on one line (`ConfigError`).
- `history`: a trained run's config rebuilt from its config.json (`trained_config`): the values
  of keys added since (`LEGACY_VALUES`), the launch keys never read back, and the keys an
  evaluation may override (`with_overrides`).
- `resume`: what may differ from a saved config when a phase resumes or restores its phase 1.

The model groups' keys and defaults come from the modules they build (`models.build`), so
`schema` imports the models; `checks` and `resume` also need the phase table. Nothing below
this package imports it.
"""

from vaeglow_jax.config.schema import defaults

__all__ = ['defaults']
