"""Shared command-line plumbing: one-line errors, quiet library logs, --verbose."""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging as std_logging
import os
import re
import sys

from absl import app, flags, logging

VERBOSE = flags.DEFINE_bool('verbose', False, 'Show stack traces and library INFO logs.')

# Exit codes: 2 = bad input (nothing changed), 143 = stopped by SIGTERM after a final checkpoint,
# 130 = stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_BAD_INPUT = 2
EXIT_PREEMPTED = 143
EXIT_INTERRUPTED = 130


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
  """Imports TensorFlow with stderr (fd 2) sent to /dev/null. TensorFlow 2.21 prints its oneDNN
  and CPU-feature notices from C++ while it is imported, before its logging reads
  TF_CPP_MIN_LOG_LEVEL, so no setting silences them. An import that fails still raises (its
  traceback is printed after fd 2 is back). Installed by cli.run unless --verbose."""

  def find_spec(self, name, path=None, target=None):
    del path, target
    if name != 'tensorflow':
      return None
    sys.meta_path.remove(self)  # once: the real finders locate it
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
      return spec
    exec_module = spec.loader.exec_module

    def quiet_exec_module(module):
      sys.stderr.flush()
      saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
      os.dup2(null, 2)
      try:
        exec_module(module)
      finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)

    spec.loader.exec_module = quiet_exec_module
    return spec


class _QuietLibraries:
  """Drops INFO records from Orbax, TFDS and JAX internals, and two Orbax warnings that every
  read of a checkpoint gives and that read as errors: 'Given directory is read only' (a
  read-only manager, as evaluation and phase 2 use on purpose) and 'Metadata file does not
  exist' (Orbax looks for a per-item metadata file that the StandardSave layout does not
  write). Other warnings and errors pass."""

  EXPECTED = ('Given directory is read only', 'Metadata file does not exist')

  def filter(self, record):
    noisy = ('/orbax/', '/tensorflow_datasets/', '/jax/_src/')
    if '/orbax/' in record.pathname and str(record.msg).startswith(self.EXPECTED):
      return False
    if '/gcsfs/' in record.pathname and record.exc_info:  # each retry's stack: its line suffices
      record.exc_info, record.exc_text = None, None
    return record.levelno >= std_logging.WARNING or not any(n in record.pathname for n in noisy)


def one_line(error: BaseException) -> str:
  """A readable single line from an exception (ml_collections quotes and escapes its messages)."""
  text = str(error).replace('\\n', ' ').replace("\\'", "'").replace('\n', ' ').strip()
  if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':  # only a pair of outer quotes
    text = text[1:-1].strip()
  match = re.search(r'^(flag --\w+=([^:\s]+):\w+): .*get_config\(\) takes 0 positional', text)
  if match:
    return f'{match.group(1)}: {match.group(2)} has no presets; give --config={match.group(2)}.'
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
  """Prints the one error line and exits. Library log records after it (e.g. asyncio reporting,
  at shutdown, the writes a full disk refused) would bury it: logging ends here."""
  print(f'error: {message}', file=sys.stderr)
  sys.stderr.flush()
  std_logging.disable(std_logging.CRITICAL)
  sys.exit(code)


# Flags and config keys that name a file or folder: a leading '~' is the user's home, as a shell
# would have expanded it (it does not after '--flag='), never a folder named '~'.
PATH_FLAGS = ('workdir', 'out')
PATH_KEYS = ('stage1_workdir', 'data.data_dir', 'data.cache_dir', 'eval.feature_extractor_dir',
             'eval.feature_extractor_dir_2', 'eval.inception_weights')


def expand_home(path):
  """'~/x' -> '/root/x'; anything else (a URL, an absolute or relative path) unchanged."""
  return os.path.expanduser(path) if isinstance(path, str) and path.startswith('~') else path


def config(config_flag):
  """The value of a config_flags flag, its path keys' '~' expanded; a config file that fails to
  load is one line, exit 2 (ml_collections defers the failure to the first access, as an
  OSError)."""
  try:
    value = config_flag.value
    value.keys()  # a config that failed to load raises here, on first attribute access
    for key in PATH_KEYS:
      parent, _, leaf = key.rpartition('.')
      node = value.get(parent) if parent else value
      if node is not None and leaf in node:
        node[leaf] = expand_home(node[leaf])
    return value
  except OSError as e:
    if VERBOSE.value:
      raise
    missing = re.search(r"No such file or directory: '([^']+)'", str(e))
    if missing:
      fail(f'config file {missing.group(1)} not found; give --config=PATH[:preset], for example '
           '--config=experiments/configs/fashion_mnist.py:quick.')
    fail(one_line(e))


def overrides(config_flag) -> dict:
  """The --config.KEY=VALUE overrides ({dotted key: value}), path keys' '~' expanded."""
  from ml_collections import config_flags
  return {key: expand_home(value) if key in PATH_KEYS else value
          for key, value in config_flags.get_override_values(config_flag).items()}


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
    from vaeglow_jax import environment
    environment.configure()
    if 'workdir' in flags.FLAGS and flags.FLAGS['workdir'].present and not flags.FLAGS.workdir:
      fail('--workdir is empty; give the run\'s folder, e.g. --workdir=workdirs/run1 (it would '
           'otherwise be the current folder).')
    for name in PATH_FLAGS:
      if name in flags.FLAGS and isinstance(flags.FLAGS[name].value, str):
        flags.FLAGS[name].value = expand_home(flags.FLAGS[name].value)
    if not VERBOSE.value:
      logging.get_absl_handler().addFilter(_QuietLibraries())
      if 'tensorflow' not in sys.modules:
        sys.meta_path.insert(0, _QuietTensorFlowImport())
    try:
      return main(argv)
    except user_errors as e:
      if VERBOSE.value:
        raise
      fail(one_line(e))
    except KeyboardInterrupt:
      if VERBOSE.value:
        raise
      fail('interrupted by Ctrl-C; every file written so far is whole (checkpoints, config, '
           'metrics): rerun the same command to resume.', EXIT_INTERRUPTED)

  app.run(wrapped, flags_parser=_parse_flags)
