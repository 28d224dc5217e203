"""`import vaeglow_jax.losses` (and .glow, .vae, .prior, .model, .conv) works, in a fresh
interpreter, and gives the same objects as the modules under vaeglow_jax.models / .layers."""

import subprocess
import sys

CODE = '''
import importlib, inspect
import vaeglow_jax.losses, vaeglow_jax.glow, vaeglow_jax.vae, vaeglow_jax.prior, vaeglow_jax.model
import vaeglow_jax.conv
for short, full in [('losses', 'models.losses'), ('glow', 'models.glow'), ('vae', 'models.vae'),
                    ('prior', 'models.prior'), ('model', 'models.model'), ('conv', 'layers.conv')]:
  a = importlib.import_module('vaeglow_jax.' + short)
  b = importlib.import_module('vaeglow_jax.' + full)
  public = [n for n, v in vars(b).items() if not n.startswith('_')
            and getattr(v, '__module__', None) == b.__name__]
  assert public, full
  missing = [n for n in public if getattr(a, n, None) is not getattr(b, n)]
  assert not missing, (short, missing)
  assert getattr(vaeglow_jax, short) is a
print('ok')
'''


def test_short_module_paths_import_and_hold_the_same_objects():
  result = subprocess.run([sys.executable, '-c', CODE], capture_output=True, text=True, timeout=120)
  assert result.returncode == 0 and result.stdout.strip() == 'ok', result.stderr[-2000:]
