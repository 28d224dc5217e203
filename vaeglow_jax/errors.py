"""The one base of every error a user can fix (bad input, a work directory that does not fit).

Commands print a UserError as one line and exit 2 (`vaeglow_jax.cli.common.run`); any other exception is
a bug and keeps its stack trace. Each module's own error class derives from it (and, for callers
that catch them so, from ValueError or RuntimeError as before).
"""


class UserError(Exception):
  """Bad input; the message says what is wrong and how to fix it, on one line."""


class FeatureExtractorError(UserError, ValueError):
  """No usable FID feature extractor, or a config that cannot train one; the message says how to
  make one. (Raised where it is trained and where it is loaded: training and evaluation.)"""


class WorkdirError(UserError, RuntimeError):
  """The work directory cannot be used (not writable, locked by another run, full); the message
  says why and what to do."""
