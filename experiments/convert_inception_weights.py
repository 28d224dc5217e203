r"""Converts pytorch-fid's Inception-v3 weights (.pth) to the .npz that evaluate loads.

  pip install torch   # only for this conversion
  python -m experiments.convert_inception_weights \
      --pth=pt_inception-2015-12-05-6726825d.pth --out=inception_fid.npz

The .pth comes from https://github.com/mseitzer/pytorch-fid/releases (FID weights v0.1.0).
The .npz keeps the state-dict names and layouts; the loader checks every shape.
"""

import os
import sys

from absl import app, flags

_PTH = flags.DEFINE_string('pth', None, 'pytorch-fid state dict (.pth).')
_OUT = flags.DEFINE_string('out', None, 'Output .npz.')
flags.mark_flags_as_required(['pth', 'out'])


def main(argv):
  del argv
  import numpy as np
  try:
    import torch
  except ImportError:
    print('error: converting a .pth needs PyTorch: pip install torch (CPU is enough).',
          file=sys.stderr)
    raise SystemExit(2)
  if not os.path.isfile(_PTH.value):
    print(f'error: {_PTH.value} not found.', file=sys.stderr)
    raise SystemExit(2)
  state = torch.load(_PTH.value, map_location='cpu', weights_only=True)
  arrays = {k: v.numpy().astype(np.float32) for k, v in state.items()
            if not k.endswith('num_batches_tracked')}
  from vaeglow_jax.evaluation.metrics import inception
  tmp = _OUT.value + '.tmp.npz'
  np.savez(tmp, **arrays)
  try:
    inception.load_params(tmp)  # refuses a file that is not the FID Inception
  except inception.InceptionWeightsError as e:
    os.remove(tmp)
    print(f'error: {e}', file=sys.stderr)
    raise SystemExit(2) from e
  os.replace(tmp, _OUT.value)
  print(f'wrote {_OUT.value} ({len(arrays)} arrays)')


if __name__ == '__main__':
  app.run(main)
