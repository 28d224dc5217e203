"""The console scripts: `vaeglow-train`, `vaeglow-evaluate`, `vaeglow-sample`, `vaeglow-verify`.

Each runs the command module of the `experiments` package installed beside this one, loaded from
its own folder and registered as `experiments` before anything else imports that name: an
`experiments` package of the user's own (a project on PYTHONPATH or installed in editable mode)
cannot hide it. The registration is process set-up made by the entry point itself; importing
this module changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys


def _register_experiments() -> None:
  """sys.modules['experiments'] = the package in the folder beside vaeglow_jax/."""
  root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'experiments')
  spec = importlib.util.spec_from_file_location(
      'experiments', os.path.join(root, '__init__.py'), submodule_search_locations=[root])
  module = importlib.util.module_from_spec(spec)
  sys.modules['experiments'] = module
  spec.loader.exec_module(module)


def _command(name: str):
  def run() -> None:
    _register_experiments()
    importlib.import_module(f'experiments.{name}').run()
  run.__doc__ = f'The console script of experiments.{name}.'
  return run


train = _command('train')
evaluate = _command('evaluate')
sample = _command('sample')
verify = _command('verify')
