"""A run's config, in one place: what keys it has, which values work, and its history.

- `schema`: every key with its default (`defaults()`); presets are small deltas on it.
- `checks`: the values checked before anything runs (training, evaluation, the FID classifier),
  each bad value named on one line (`ConfigError`).
- `history`: a trained run's config rebuilt from its config.json (`trained_config`): the values
  of keys added since (`LEGACY_VALUES`), the launch keys never read back, and the keys an
  evaluation may override (`with_overrides`).
- `resume`: what may differ from a saved config when a phase resumes or restores its phase 1.
- `adaptors`: config groups turned into the objects the models take (`step_options`).

Importing this package loads only `schema`; the others are imported by name (`checks` and
`resume` need the phase table, which needs the models).
"""

from vaeglow_jax.config.schema import defaults

__all__ = ['defaults']
