"""The package's layers: errors <- layers (convolutions) <- flows <- models <- phases <- shared
modules (I/O, runtime) <- config <- presets <- training | evaluation <- cli."""

import ast
import os
import pathlib

import vaeglow_jax

LIBRARY = pathlib.Path(vaeglow_jax.__file__).parent
ROOT = LIBRARY.parent
# vaeglow_jax.<name> of a model module is vaeglow_jax.models.<name> (re-exported in __init__);
# vaeglow_jax.conv is vaeglow_jax.layers.conv.
_MODEL_ALIASES = {'glow', 'losses', 'model', 'prior', 'vae'}
_LAYER_ALIASES = {'conv'}
# Each may import those before it; 'base' is vaeglow_jax.errors (UserError, imported by every layer
# that refuses bad input, the models' input checks included; it imports nothing).
_BELOW = ('base', 'layers', 'flows', 'models', 'phases', 'shared', 'config', 'presets')
# What each layer may import from the package.
ALLOWED = {**{layer: set(_BELOW[:i + 1]) for i, layer in enumerate(_BELOW)},
           'training': {*_BELOW, 'training'}, 'evaluation': {*_BELOW, 'evaluation'}}
# The entry points (vaeglow_jax/cli/) sit on top: they may import anything, and nothing imports them.
ALLOWED['cli'] = {*_BELOW, 'training', 'evaluation', 'cli'}


def layer_of(module: str) -> str:
  """'vaeglow_jax.training.loop' -> 'training'; the package's aliases count as their modules."""
  parts = module.split('.')[1:]
  if not parts:
    return 'shared'
  if parts[0] == 'errors':
    return 'base'
  if parts[0] in ('layers', 'flows', 'models', 'phases', 'config', 'presets', 'training',
                  'evaluation', 'cli'):
    return parts[0]
  if len(parts) == 1 and parts[0] in _MODEL_ALIASES:
    return 'models'
  if len(parts) == 1 and parts[0] in _LAYER_ALIASES:
    return 'layers'
  return 'shared'


def imported_modules(source: str) -> set[str]:
  """Every vaeglow_jax module a source imports, at module level or inside functions."""
  found = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name.startswith('vaeglow_jax')}
    elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('vaeglow_jax'):
      found |= {f'{node.module}.{a.name}' for a in node.names}  # a module or a name in one
  return found


def violations() -> list[str]:
  out = []
  for path in sorted(LIBRARY.rglob('*.py')):
    module = '.'.join(('vaeglow_jax',) + path.relative_to(LIBRARY).with_suffix('').parts)
    if path.name == '__init__.py' and path.parent == LIBRARY:
      continue  # the package's public names: re-exports of the models layer
    own = layer_of(module)
    for target in sorted(imported_modules(path.read_text())):
      # 'vaeglow_jax.evaluation.metrics.fid' or a name ('vaeglow_jax.flows.StepOptions').
      if layer_of(target) not in ALLOWED[own]:
        out.append(f'{module} ({own}) imports {target} ({layer_of(target)})')
  return out


def test_imports_only_go_down_the_layers():
  assert violations() == []


def test_the_layer_check_sees_an_upward_import():
  assert layer_of('vaeglow_jax.training.trainer') == 'training'
  assert layer_of('vaeglow_jax.glow') == 'models' and layer_of('vaeglow_jax.flows.step') == 'flows'
  assert layer_of('vaeglow_jax.conv') == layer_of('vaeglow_jax.layers.conv') == 'layers'
  # An old loop (flows imported models.conv while models imported flows) is now upward.
  assert 'models' not in ALLOWED['flows'] and 'flows' not in ALLOWED['layers']
  assert layer_of('vaeglow_jax.io.workdir') == layer_of('vaeglow_jax.runtime.lock') == 'shared'
  upward = imported_modules('def f():\n  from vaeglow_jax.training import trainer\n')
  assert {layer_of(m) for m in upward} == {'training'}
  assert 'training' not in ALLOWED['evaluation'] and 'shared' not in ALLOWED['models']
  # config.checks needs the phase table; the phase table must not need config (a cycle once).
  assert layer_of('vaeglow_jax.config.checks') == 'config' and layer_of('vaeglow_jax.phases') == 'phases'
  assert 'config' not in ALLOWED['phases'] and 'phases' in ALLOWED['config']
  cycle = imported_modules('from vaeglow_jax.config import schema\n')
  assert {layer_of(m) for m in cycle} == {'config'}
  assert layer_of('vaeglow_jax.cli.train') == 'cli' and not any(
      'cli' in allowed for layer, allowed in ALLOWED.items() if layer != 'cli')
  assert {layer_of(m) for m in imported_modules('from vaeglow_jax.models.conv import Conv\n')} == {
      'models'}  # what flows/coupling.py imported before: flows -> models, refused



def import_graph() -> dict[str, set[str]]:
  """{module: the library modules it imports} (package __init__s as the package's name; an
  imported name counts as the module that defines it), function-level imports included."""
  modules = {}
  for path in sorted(LIBRARY.rglob('*.py')):
    parts = ('vaeglow_jax',) + path.relative_to(LIBRARY).with_suffix('').parts
    modules['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path

  def module_of(name):
    while name not in modules and '.' in name:
      name = name.rsplit('.', 1)[0]
    return name
  return {m: {module_of(t) for t in imported_modules(p.read_text())} - {m}
          for m, p in modules.items()}


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components of more than one module: each holds an import loop."""
  order, low, stack, loops = {}, {}, [], []

  def visit(node):
    order[node] = low[node] = len(order)
    stack.append(node)
    for target in sorted(graph.get(node, ())):
      if target not in order:
        visit(target)
        low[node] = min(low[node], low[target])
      elif target in stack:
        low[node] = min(low[node], order[target])
    if low[node] == order[node]:
      component = []
      while not component or component[-1] != node:
        component.append(stack.pop())
      if len(component) > 1:
        loops.append(sorted(component))
  for node in sorted(graph):
    if node not in order:
      visit(node)
  return loops


def test_no_module_of_the_library_imports_itself_through_others():
  assert import_loops(import_graph()) == []


def test_the_loop_check_sees_a_loop():
  # An old loop: the work-directory I/O and the failure classification imported each other.
  graph = import_graph()
  assert 'vaeglow_jax.io.storage' in graph['vaeglow_jax.io.files']
  assert 'vaeglow_jax.io.files' in graph['vaeglow_jax.runtime.failures']
  graph['vaeglow_jax.io.storage'] = graph['vaeglow_jax.io.storage'] | {'vaeglow_jax.runtime.failures'}
  assert any({'vaeglow_jax.runtime.failures', 'vaeglow_jax.io.storage'} <= set(loop)
             for loop in import_loops(graph))
  assert import_loops({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]

def test_the_short_model_paths_hold_the_model_modules_objects():
  """(tests/test_short_paths.py imports them as `import vaeglow_jax.losses` in a fresh process.)"""
  import vaeglow_jax
  from vaeglow_jax.models import glow, losses
  assert vaeglow_jax.glow.GlowLayer is glow.GlowLayer
  assert vaeglow_jax.losses.gaussian_log_prob is losses.gaussian_log_prob


# The third-party packages first (importing jax sets TF_CPP_MIN_LOG_LEVEL and
# TPU_SKIP_MDS_QUERY itself): what is measured is what the library's own modules change.
_IMPORT_EVERYTHING = """
import importlib, json, os, pkgutil, sys
import clu.metric_writers, flax, jax, optax, orbax.checkpoint, tensorflow_datasets
before_env = dict(os.environ)
import vaeglow_jax
names = [m.name for m in pkgutil.walk_packages(vaeglow_jax.__path__, 'vaeglow_jax.')]
for name in names:
  importlib.import_module(name)
print(json.dumps({
    'imported': len(names),
    'environ': sorted(k for k in set(os.environ) | set(before_env)
                      if os.environ.get(k) != before_env.get(k)),
    'aliases': sorted(k for k, m in sys.modules.items()
                      if k.startswith('vaeglow_jax') and getattr(m, '__name__', k) != k),
}))
"""


def test_importing_every_library_module_changes_no_process_setting():
  # A fresh interpreter, without the settings that environment.configure() makes.
  import json
  import subprocess
  import sys
  env = {k: v for k, v in os.environ.items()
         if k not in ('EPATH_USE_TF', 'GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT', 'TF_CPP_MIN_LOG_LEVEL')}
  result = subprocess.run([sys.executable, '-c', _IMPORT_EVERYTHING], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.splitlines()[-1])
  assert report['imported'] > 40
  assert report['environ'] == [] and report['aliases'] == []


def _distributed_initialize_calls(source: str) -> list[int]:
  """Lines of calls to `<...>distributed.initialize(...)` (jax.distributed or the project's
  module, by any alias ending in 'distributed'), found in the syntax tree: comments and strings
  cannot trigger it."""
  lines = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
        node.func.attr == 'initialize'):
      owner = node.func.value
      name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, 'id', '')
      if name.endswith('distributed'):
        lines.append(node.lineno)
  return lines


def test_only_entry_points_start_the_distributed_runtime():
  # A library function that starts it would start it twice (or too late) under an entry point.
  calls = [f'{path.relative_to(LIBRARY)}:{n}' for path in sorted(LIBRARY.rglob('*.py'))
           if path.name != 'distributed.py' and path.parent.name != 'cli'  # the entry points
           for n in _distributed_initialize_calls(path.read_text())]
  assert calls == []
  planted = ('import jax\nfrom vaeglow_jax.runtime import distributed as my_distributed\n'
             '# distributed.initialize() in a comment\ns = "distributed.initialize("\n'
             'def f(c):\n  jax.distributed.initialize()\n  my_distributed.initialize(c)\n')
  assert _distributed_initialize_calls(planted) == [6, 7]


