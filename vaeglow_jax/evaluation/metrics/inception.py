"""Inception-v3 pool3 features for FID: a Flax port of the network pytorch-fid uses.

That network is the TensorFlow 2015-12-05 Inception graph that defines FID
(pytorch-fid's `FIDInceptionA/C/E_1/E_2` variants: average pools that ignore
padding, and a max pool in the last block). Weights are not bundled and
cannot be downloaded here. Get pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`
(github.com/mseitzer/pytorch-fid releases) on a machine with internet and convert it once:

    python -m experiments.convert_inception_weights --pth=pt_inception-2015-12-05-6726825d.pth \
        --out=inception_fid.npz

then pass `--config.eval.inception_weights=inception_fid.npz` to experiments.evaluate.
The .npz holds the PyTorch state-dict names and layouts (conv weights OIHW,
BatchNorm weight/bias/running_mean/running_var); `load_params` checks every
array's name and shape against this network.

Input: (batch, H, W, C) images in [0, 1], C = 1 or 3 (grey is repeated to RGB);
resized bilinearly to 299x299 and scaled to [-1, 1] as pytorch-fid does.
Output: (batch, 2048) pool3 features.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vaeglow_jax.errors import UserError

BN_EPS = 1e-3
FEATURE_DIM = 2048


class InceptionWeightsError(UserError, ValueError):
  """The FID weights file is missing or does not fit the network; the message says how."""


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


class BasicConv2d(nn.Module):
  """Conv (no bias) -> BatchNorm (inference statistics) -> ReLU, as in torchvision."""
  features: int
  kernel: int | Sequence[int]
  stride: int = 1
  padding: int | Sequence[int] = 0

  @nn.compact
  def __call__(self, x):
    ph, pw = _pair(self.padding)
    x = nn.Conv(self.features, _pair(self.kernel), _pair(self.stride), padding=((ph, ph), (pw, pw)),
                use_bias=False, name='conv')(x)
    return nn.relu(_BatchNorm(name='bn')(x))


class _BatchNorm(nn.Module):
  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param('scale', nn.initializers.ones, (c,))
    bias = self.param('bias', nn.initializers.zeros, (c,))
    mean = self.param('mean', nn.initializers.zeros, (c,))
    var = self.param('var', nn.initializers.ones, (c,))
    return (x - mean) * jax.lax.rsqrt(var + BN_EPS) * scale + bias


def _avg_pool_same(x):
  """3x3 stride-1 average pool, padding 1, padding not counted (count_include_pad=False)."""
  window, pad = (1, 3, 3, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
  total = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, (1, 1, 1, 1), pad)
  ones = jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype)
  count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, (1, 1, 1, 1), pad)
  return total / count


def _max_pool(x, stride, padding=0):
  p = ((padding, padding), (padding, padding))
  return nn.max_pool(x, (3, 3), (stride, stride), padding=p)


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, 1, name='branch1x1')(x)
    b5 = BasicConv2d(48, 1, name='branch5x5_1')(x)
    b5 = BasicConv2d(64, 5, padding=2, name='branch5x5_2')(b5)
    b3 = BasicConv2d(64, 1, name='branch3x3dbl_1')(x)
    b3 = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_2')(b3)
    b3 = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_3')(b3)
    bp = BasicConv2d(self.pool_features, 1, name='branch_pool')(_avg_pool_same(x))
    return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, 3, stride=2, name='branch3x3')(x)
    bd = BasicConv2d(64, 1, name='branch3x3dbl_1')(x)
    bd = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = BasicConv2d(96, 3, stride=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool(x, 2)], -1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, 1, name='branch1x1')(x)
    b7 = BasicConv2d(c7, 1, name='branch7x7_1')(x)
    b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv2d(c7, 1, name='branch7x7dbl_1')(x)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv2d(192, 1, name='branch_pool')(_avg_pool_same(x))
    return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, 1, name='branch3x3_1')(x)
    b3 = BasicConv2d(320, 3, stride=2, name='branch3x3_2')(b3)
    b7 = BasicConv2d(192, 1, name='branch7x7x3_1')(x)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv2d(192, 3, stride=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool(x, 2)], -1)


class InceptionE(nn.Module):
  pool: str  # 'avg' (Mixed_7b) or 'max' (Mixed_7c), as in the FID graph

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, 1, name='branch1x1')(x)
    b3 = BasicConv2d(384, 1, name='branch3x3_1')(x)
    b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
                          BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], -1)
    bd = BasicConv2d(448, 1, name='branch3x3dbl_1')(x)
    bd = BasicConv2d(384, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
                          BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], -1)
    pooled = _avg_pool_same(x) if self.pool == 'avg' else _max_pool(x, 1, padding=1)
    bp = BasicConv2d(192, 1, name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], -1)


class InceptionV3(nn.Module):
  """(batch, H, W, C) in [0, 1] -> (batch, 2048) pool3 features."""
  resize_to: int = 299  # tests use a small size (>= 75) to stay fast; FID needs 299

  @nn.compact
  def __call__(self, images):
    if images.shape[-1] == 1:
      images = jnp.repeat(images, 3, axis=-1)
    size = (images.shape[0], self.resize_to, self.resize_to, 3)
    x = jax.image.resize(images.astype(jnp.float32), size, 'bilinear', antialias=False)
    x = 2.0 * x - 1.0
    x = BasicConv2d(32, 3, stride=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv2d(32, 3, name='Conv2d_2a_3x3')(x)
    x = BasicConv2d(64, 3, padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool(x, 2)
    x = BasicConv2d(80, 1, name='Conv2d_3b_1x1')(x)
    x = BasicConv2d(192, 3, name='Conv2d_4a_3x3')(x)
    x = _max_pool(x, 2)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE('avg', name='Mixed_7b')(x)
    x = InceptionE('max', name='Mixed_7c')(x)
    return jnp.mean(x, axis=(1, 2))


# PyTorch state-dict suffix <-> Flax leaf; conv weights are OIHW there, HWIO here.
_TORCH_NAMES = {'kernel': 'weight', 'scale': 'weight', 'bias': 'bias', 'mean': 'running_mean',
                'var': 'running_var'}


def _torch_name(path) -> str:
  keys = [p.key for p in path]
  return '.'.join(keys[:-1] + [_TORCH_NAMES[keys[-1]]])


def _to_torch(leaf: np.ndarray) -> np.ndarray:
  return np.transpose(leaf, (3, 2, 0, 1)) if leaf.ndim == 4 else leaf


def _from_torch(array: np.ndarray) -> np.ndarray:
  return np.transpose(array, (2, 3, 1, 0)) if array.ndim == 4 else array


def abstract_params(resize_to: int = 299):
  """The parameter tree's shapes (no computation)."""
  images = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
  return jax.eval_shape(InceptionV3(resize_to).init, jax.random.PRNGKey(0), images)['params']


def random_params(rng, resize_to: int = 299):
  """Random weights (for tests and benchmarks): He-normal convs, BatchNorm near identity.

  Drawn with NumPy from a generator seeded by the key: jax.random would compile one program
  per distinct parameter shape (about 30 s for the ~200 shapes here on 2 CPU cores)."""
  shapes = abstract_params(resize_to)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  generator = np.random.default_rng(np.asarray(jax.random.key_data(rng)).ravel().tolist())
  out = []
  for path, leaf in leaves:
    name = path[-1].key
    if name == 'kernel':
      fan_in = np.prod(leaf.shape[:3])
      value = generator.standard_normal(leaf.shape) * np.sqrt(2.0 / fan_in)
    elif name in ('scale', 'var'):
      value = 1.0 + 0.1 * generator.uniform(size=leaf.shape)
    else:
      value = 0.1 * generator.standard_normal(leaf.shape)
    out.append(jnp.asarray(value, jnp.float32))
  return jax.tree_util.tree_unflatten(treedef, out)


def save_params(params, path: str) -> None:
  """Writes params as an .npz with PyTorch state-dict names and layouts."""
  arrays = {_torch_name(p): _to_torch(np.asarray(leaf, np.float32))
            for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  with open(path, 'wb') as f:
    np.savez(f, **arrays)


def load_params(path: str):
  """Reads an .npz written by save_params or experiments.convert_inception_weights.

  Raises InceptionWeightsError naming the file and the first missing or
  mis-shaped array. Extra arrays (the classifier 'fc.*', 'num_batches_tracked')
  are ignored.
  """
  if not path or not os.path.isfile(path):
    raise InceptionWeightsError(
        f'FID weights file {path!r} not found; convert pytorch-fid\'s weights with '
        'python -m experiments.convert_inception_weights in a clone of vaeglow-jax (the weights '
        'cannot be bundled), then pass its .npz.')
  try:
    with np.load(path) as f:
      arrays = {k: f[k] for k in f.files}
  except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to replace
    raise InceptionWeightsError(f'FID weights file {path} is not a readable .npz ({e}).') from e
  leaves, treedef = jax.tree_util.tree_flatten_with_path(abstract_params())
  names = [_torch_name(p) for p, _ in leaves]
  for name, (_, leaf) in zip(names, leaves):  # wrong shapes first: they name a wrong network
    if name in arrays and _from_torch(arrays[name]).shape != leaf.shape:
      raise InceptionWeightsError(
          f'FID weights file {path}: {name} has shape {tuple(arrays[name].shape)}, expected '
          f'{tuple(_to_torch(np.zeros(leaf.shape)).shape)} (the pytorch-fid Inception-v3).')
  missing = [name for name in names if name not in arrays]
  if missing:
    raise InceptionWeightsError(
        f'FID weights file {path} lacks {missing[0]} ({len(missing)} arrays missing): it is not the '
        'pytorch-fid Inception-v3 (pt_inception-2015-12-05) state dict.')
  out = [jnp.asarray(_from_torch(arrays[name]), jnp.float32) for name in names]
  return jax.tree_util.tree_unflatten(treedef, out)


@functools.partial(jax.jit, static_argnames='resize_to')
def features(params, images, resize_to: int = 299):
  """(batch, H, W, C) in [0, 1] -> (batch, 2048) pool3 features; jitted, params an argument."""
  return InceptionV3(resize_to).apply({'params': params}, images)
