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
SHOW_CONFIG = flags.DEFINE_bool('show_config', False, 'Print every config key with its value (the '
                                'config file, then any --config.KEY=VALUE) and exit.')

# A level the user chose is kept. Importing jax sets it to 1 when unset (the console scripts import
# jax before this module), so 1 counts as unset: a user's own 1 is the same as no choice.
_USER_TF_LOG_LEVEL = os.environ.get('TF_CPP_MIN_LOG_LEVEL', '1') != '1'

# The config files: --config=NAME[:PRESET] names one of them, from a clone or an install.
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'presets')
_HELP_FLAGS = ('--help', '-h', '-?', '--helpshort', '--helpfull')

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
  """Drops INFO records from Orbax, TFDS and JAX internals, clu's hyperparameter line, and two
  Orbax warnings that every
  read of a checkpoint gives and that read as errors: 'Given directory is read only' (a
  read-only manager, as evaluation and phase 2 use on purpose) and 'Metadata file does not
  exist' (Orbax looks for a per-item metadata file that the StandardSave layout does not
  write). Other warnings and errors pass."""

  EXPECTED = ('Given directory is read only', 'Metadata file does not exist')

  def filter(self, record):
    noisy = ('/orbax/', '/tensorflow_datasets/', '/jax/_src/')
    if '/orbax/' in record.pathname and str(record.msg).startswith(self.EXPECTED):
      return False
    if record.pathname.endswith('logging_writer.py') and str(record.msg).startswith(
        '[Hyperparameters]'):  # one very long line; the config is in <phase>/config.json
      return False
    if '/gcsfs/' in record.pathname and record.exc_info:  # each retry's stack: its line suffices
      record.exc_info, record.exc_text = None, None
    return record.levelno >= std_logging.WARNING or not any(n in record.pathname for n in noisy)


def one_line(error: BaseException) -> str:
  """A readable single line from an exception (ml_collections quotes and escapes its messages)."""
  text = str(error).replace('\\n', ' ').replace("\\'", "'").replace('\n', ' ').strip()
  # A config given by name is named so again, not by the installed file's path.
  text = re.sub(re.escape(CONFIGS_DIR + os.sep) + r'(\w+)\.py', r'\1', text)
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
  """Prints the one error line and exits. What library threads print after it (asyncio's 'Event
  loop is closed' tracebacks from Orbax's and TensorStore's threads at shutdown, after a full
  disk or a damaged checkpoint) would bury it: logging ends here, and stderr is closed to them."""
  print(f'error: {message}', file=sys.stderr)
  sys.stderr.flush()
  std_logging.disable(std_logging.CRITICAL)
  import threading
  threading.excepthook = lambda args: None
  sys.stderr = open(os.devnull, 'w')  # noqa: SIM115 - for the rest of this process's life
  os.dup2(sys.stderr.fileno(), 2)
  sys.exit(code)


# Flags and config keys that name a file or folder: a leading '~' is the user's home, as a shell
# would have expanded it (it does not after '--flag='), never a folder named '~'.
PATH_FLAGS = ('workdir', 'out', 'root', 'features', 'features2')
PATH_KEYS = ('stage1_workdir', 'data.data_dir', 'data.cache_dir', 'eval.feature_extractor_dir',
             'eval.feature_extractor_dir_2', 'eval.inception_weights')


def define_config_and_workdir(holders: dict, workdir_help: str, config_default: str | None = None,
                               config_help: str = 'Config: NAME[:PRESET] (e.g. fashion_mnist:quick) '
                                                  'or a file path.') -> None:
  """The --config and --workdir flags every command but verify takes, into holders['config'] and
  holders['workdir']: --workdir is required, and --config too unless it has a default."""
  from ml_collections import config_flags  # pylint: disable=import-outside-toplevel
  holders['config'] = config_flags.DEFINE_config_file('config', config_default, config_help,
                                                      lock_config=True)
  holders['workdir'] = flags.DEFINE_string('workdir', None, workdir_help)
  flags.mark_flags_as_required(['workdir'] if config_default else ['config', 'workdir'])


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
      fail(f'config file {missing.group(1)} not found; give --config=NAME[:preset] (one of '
           f'{", ".join(config_names())}), e.g. --config=fashion_mnist:quick, or a file path.')
    fail(one_line(e))


def config_names() -> list[str]:
  """The names --config=NAME takes (the modules of vaeglow_jax/presets/ with a get_config)."""
  import importlib
  import pkgutil
  names = [m.name for m in pkgutil.iter_modules([CONFIGS_DIR]) if m.name != 'from_workdir']
  return sorted(n for n in names
                if hasattr(importlib.import_module(f'vaeglow_jax.presets.{n}'), 'get_config'))


def config_presets(name: str) -> tuple[str, ...]:
  """The presets config `name` takes (its PRESETS, or those of the config it extends)."""
  import importlib
  module = importlib.import_module(f'vaeglow_jax.presets.{name}')
  return getattr(module, 'PRESETS', None) or module.fashion_mnist.PRESETS


def resolve_config_names(argv: list[str]) -> list[str]:
  """argv with --config=NAME[:PRESET] (a name of config_names()) made the path of that file;
  paths and everything else unchanged."""
  out = []
  for arg in argv:
    named = re.fullmatch(r'--config=(\w+)(:\w+)?', arg)
    if named and named.group(1) in config_names():
      arg = f'--config={os.path.join(CONFIGS_DIR, named.group(1))}.py{named.group(2) or ""}'
    out.append(arg)
  return out


def usage(main) -> str:
  """--help's text: the command's docstring, its flags, and how to see the config keys."""
  module = sys.modules[main.__module__]
  names = ', '.join(config_names())
  presets = '; '.join(f'{name}: {", ".join(config_presets(name))}' for name in config_names())
  return '\n'.join([
      (module.__doc__ or '').strip(), '',
      'Flags:', flags.FLAGS.module_help(module) or '  (none of its own)',
      '  --verbose: show stack traces and library INFO logs',
      '  --show_config: print every config key with its value, then exit', '',
      f'Configs by name: --config=NAME[:PRESET], NAME one of {names}; presets: {presets} '
      '(vaeglow_jax/presets/); a config file path works too.',
      'Any config key can be set with --config.KEY=VALUE. To list them all with their values:',
      f'  {_command(module)} --config=fashion_mnist:quick --show_config'])


def _command(module) -> str:
  """How this command was run: 'vaeglow-train' (a console script) or 'python -m MODULE' (the
  module run as __main__, e.g. experiments.train)."""
  del module
  script = os.path.basename(sys.argv[0])
  spec = getattr(sys.modules.get('__main__'), '__spec__', None)
  if script.endswith('.py') and spec is not None:
    return f'python -m {spec.name}'
  return script


def _show_config_and_exit() -> None:
  from flax import traverse_util
  config = flags.FLAGS['config'].value
  for key, value in sorted(traverse_util.flatten_dict(config.to_dict(), sep='.').items()):
    print(f'{key} = {value!r}')
  sys.exit(0)


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
    from vaeglow_jax.runtime import environment
    environment.configure(quiet_tensorflow=not _USER_TF_LOG_LEVEL)
    environment.configure_compilation_cache()  # a rerun loads its programs instead of compiling
    if 'workdir' in flags.FLAGS and flags.FLAGS['workdir'].present and not flags.FLAGS.workdir:
      fail('--workdir is empty; give the run\'s folder, e.g. --workdir=workdirs/run1 (it would '
           'otherwise be the current folder).')
    for name in PATH_FLAGS:
      if name in flags.FLAGS and isinstance(flags.FLAGS[name].value, str):
        flags.FLAGS[name].value = expand_home(flags.FLAGS[name].value)
    if SHOW_CONFIG.value and 'config' in flags.FLAGS:
      _show_config_and_exit()
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

  argv = resolve_config_names(sys.argv)
  if '--show_config' in argv and 'workdir' in flags.FLAGS and not any(
      a.startswith('--workdir') for a in argv):
    argv.append('--workdir=unused')  # a required flag, which printing the config does not use
  if any(arg in _HELP_FLAGS for arg in argv[1:]):  # absl's own --help exits 1, without the doc
    print(usage(main))
    sys.exit(0)
  app.run(wrapped, argv=argv, flags_parser=_parse_flags)
