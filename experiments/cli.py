"""Shared command-line plumbing: one-line errors, quiet library logs, --verbose."""

from __future__ import annotations

import logging as std_logging
import re
import sys

from absl import app, flags, logging

VERBOSE = flags.DEFINE_bool('verbose', False, 'Show stack traces and library INFO logs.')

# Exit codes: 2 = bad input (nothing changed), 143 = stopped by SIGTERM after a final checkpoint.
EXIT_BAD_INPUT = 2
EXIT_PREEMPTED = 143


class _QuietLibraries:
  """Drops INFO records from Orbax, TFDS and JAX internals; warnings and errors pass."""

  def filter(self, record):
    noisy = ('/orbax/', '/tensorflow_datasets/', '/jax/_src/')
    return record.levelno >= std_logging.WARNING or not any(n in record.pathname for n in noisy)


def one_line(error: BaseException) -> str:
  """A readable single line from an exception (ml_collections quotes and escapes its messages)."""
  text = str(error).replace('\\n', ' ').replace("\\'", "'").replace('\n', ' ')
  text = text.strip().strip('\'"').strip()
  match = re.search(r'Did you mean "(\w+)" instead of "(\w+)"', text)
  if match:
    return f'unknown config key {match.group(2)!r}; did you mean {match.group(1)!r}?'
  # ml_collections flattens a config file's own error into its traceback: keep the file's
  # message (its last line), e.g. "unknown preset 'test'; use 'default' or 'quick'."
  match = re.search(r'^(flag --\w+=\S+): Error whilst parsing config file: Traceback .*? '
                    r'(?:\w+\.)*\w+(?:Error|Exception): (.*)$', ' '.join(text.split()))
  if match:
    return f'{match.group(1)}: {match.group(2)}'
  return ' '.join(text.split())


def fail(message: str, code: int = EXIT_BAD_INPUT):
  print(f'error: {message}', file=sys.stderr)
  sys.exit(code)


def config(config_flag):
  """The value of a config_flags flag; a config file that fails to load is one line, exit 2
  (ml_collections defers the failure to the first access, as an OSError)."""
  try:
    value = config_flag.value
    value.keys()  # a config that failed to load raises here, on first attribute access
    return value
  except OSError as e:
    if VERBOSE.value:
      raise
    missing = re.search(r"No such file or directory: '([^']+)'", str(e))
    if missing:
      fail(f'config file {missing.group(1)} not found; give --config=PATH[:preset], for example '
           '--config=experiments/configs/fashion_mnist.py:quick.')
    fail(one_line(e))


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except SystemExit:
    raise
  except Exception as e:  # noqa: BLE001 - any parse problem is the user's input
    if '--verbose' in argv:
      raise
    fail(one_line(e))


def run(main, user_errors: tuple[type[BaseException], ...] | None = None):
  """app.run(main) where `user_errors` (default: vaeglow_jax.errors.UserError, the base of every
  library error a user can fix) print one line and exit 2 (trace with --verbose).

  `user_errors` are the library's own error classes for bad input, never a built-in such as
  ValueError: a ValueError from deep inside JAX or the model is a bug and keeps its trace.
  """
  if user_errors is None:
    from vaeglow_jax.errors import UserError
    user_errors = (UserError,)
  builtin = [e.__name__ for e in user_errors if e.__module__ == 'builtins']
  if builtin:
    raise TypeError(f'user_errors must be library error classes, not built-ins: {builtin}')

  def wrapped(argv):
    if not VERBOSE.value:
      logging.get_absl_handler().addFilter(_QuietLibraries())
    try:
      return main(argv)
    except user_errors as e:
      if VERBOSE.value:
        raise
      fail(one_line(e))

  app.run(wrapped, flags_parser=_parse_flags)
