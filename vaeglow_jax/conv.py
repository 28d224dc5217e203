"""Stride-1 'SAME' convolutions written as the matmuls XLA:CPU runs fastest.

XLA:CPU's convolution kernels, and above all their filter gradients, are slow
when one side of the convolution has few channels: the Glow coupling nets go
from C/2 channels (1 to 24) to `hidden` and back to C. Measured on this
project's 2-core CPU (forward / gradient ms, batch 16, 32x32;
benchmarks/results/cpu/conv_impl.json): 3x3 conv 1->512 XLA 22.0 / 95.7, as
patches 11.1 / 20.8; 3x3 512->2 XLA 39.0 / 101.0, as taps 2.6 / 42.2; 1x1
512->512 XLA 105 / 781, as a matmul 75 / 207.

Three formulations besides XLA's own convolution, all exact:
- 'matmul' (1x1 kernels): a dot over the channel axis.
- 'patches' (few input channels): gather each pixel's kh x kw neighbourhood
  into (B, H, W, kh*kw*Cin) and multiply by the flattened kernel. The
  backward pass is written by hand (custom VJP): the input gradient is a
  shift-and-add of dy @ kernel^T, the autodiff transpose of the gather (a
  padded scatter per tap) being several times slower.
- 'taps' (few output channels): multiply x by all kh*kw kernel taps at once,
  (B, H, W, Cin) @ (Cin, kh*kw*Cout), then shift-and-add the taps. The
  backward pass (custom VJP) gathers dy's neighbourhoods, which is cheap
  because Cout is small, and turns both gradients into matmuls.

'auto' picks by shape on the CPU backend and uses XLA's convolution elsewhere
(GPU/TPU convolution libraries already handle these shapes). The custom VJPs
support reverse-mode autodiff only: for forward mode (jax.jvp, jax.jacfwd,
jax.hessian) use impl='xla'.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

IMPLS = ('auto', 'xla', 'matmul', 'patches', 'taps')
# 'auto' uses patches when Cout >= THIN_RATIO * Cin, taps when Cin >= THIN_RATIO * Cout.
THIN_RATIO = 4


def _offsets(kh: int, kw: int):
  return [(i, j) for i in range(kh) for j in range(kw)]


def _check_kernel(kernel: jax.Array):
  kh, kw = kernel.shape[:2]
  if kh % 2 == 0 or kw % 2 == 0:
    raise ValueError(f"'SAME' convolutions here need odd kernel sizes, got {kh}x{kw}.")


def _gather(x: jax.Array, kh: int, kw: int, mirrored: bool) -> jax.Array:
  """(B, H, W, C) -> (B, H, W, kh*kw*C), tap-major: the zero-padded neighbourhood.

  mirrored=False: tap (i, j) holds x[h + i - kh//2, w + j - kw//2] (a conv's input
  window); mirrored=True: x[h - i + kh//2, w - j + kw//2] (its transpose).
  """
  ph, pw = kh // 2, kw // 2
  height, width = x.shape[1:3]
  xp = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
  if mirrored:
    starts = [(2 * ph - i, 2 * pw - j) for i, j in _offsets(kh, kw)]
  else:
    starts = _offsets(kh, kw)
  return jnp.concatenate([xp[:, a:a + height, b:b + width, :] for a, b in starts], axis=-1)


def _shift_add(t: jax.Array, kh: int, kw: int, channels: int, mirrored: bool) -> jax.Array:
  """(B, H, W, kh*kw*channels) -> (B, H, W, channels): sums tap k shifted by its offset.

  mirrored=False is a conv's output from per-tap products; mirrored=True is the
  transpose of `_gather(., mirrored=False)` (a conv's input gradient).
  """
  ph, pw = kh // 2, kw // 2
  height, width = t.shape[1:3]
  tp = jnp.pad(t, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
  out = None
  for k, (i, j) in enumerate(_offsets(kh, kw)):
    a, b = (2 * ph - i, 2 * pw - j) if mirrored else (i, j)
    part = tp[:, a:a + height, b:b + width, k * channels:(k + 1) * channels]
    out = part if out is None else out + part
  return out


@jax.custom_vjp
def conv_patches(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """'SAME' stride-1 conv of x (B, H, W, Cin) with kernel (kh, kw, Cin, Cout), by patches."""
  kh, kw, cin, cout = kernel.shape
  return _gather(x, kh, kw, mirrored=False) @ kernel.reshape(kh * kw * cin, cout)


def _patches_fwd(x, kernel):
  return conv_patches(x, kernel), (x, kernel)


def _patches_bwd(residuals, dy):
  x, kernel = residuals
  kh, kw, cin, cout = kernel.shape
  flat = kernel.reshape(kh * kw * cin, cout)
  # Recomputing the patches is cheaper than storing them (Cin is small).
  d_flat = jnp.einsum('bhwk,bhwo->ko', _gather(x, kh, kw, mirrored=False), dy)
  dx = _shift_add(dy @ flat.T, kh, kw, cin, mirrored=True)
  return dx, d_flat.reshape(kernel.shape)


conv_patches.defvjp(_patches_fwd, _patches_bwd)


def _taps_matrix(kernel):
  kh, kw, cin, cout = kernel.shape
  return kernel.transpose(2, 0, 1, 3).reshape(cin, kh * kw * cout)


@jax.custom_vjp
def conv_taps(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """'SAME' stride-1 conv of x (B, H, W, Cin) with kernel (kh, kw, Cin, Cout), by taps."""
  kh, kw, _, cout = kernel.shape
  return _shift_add(x @ _taps_matrix(kernel), kh, kw, cout, mirrored=False)


def _taps_fwd(x, kernel):
  return conv_taps(x, kernel), (x, kernel)


def _taps_bwd(residuals, dy):
  x, kernel = residuals
  kh, kw, cin, cout = kernel.shape
  d_taps = _gather(dy, kh, kw, mirrored=True)  # (B, H, W, kh*kw*Cout)
  dx = d_taps @ _taps_matrix(kernel).T
  d_matrix = jnp.einsum('bhwc,bhwk->ck', x, d_taps)
  return dx, d_matrix.reshape(cin, kh, kw, cout).transpose(1, 2, 0, 3)


conv_taps.defvjp(_taps_fwd, _taps_bwd)


def conv_xla(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """XLA's own 'SAME' stride-1 NHWC convolution."""
  return lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def conv_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """1x1 conv as a dot over channels."""
  if kernel.shape[:2] != (1, 1):
    raise ValueError(f"impl='matmul' needs a 1x1 kernel, got {kernel.shape[0]}x{kernel.shape[1]}.")
  return x @ kernel[0, 0]


def choose_impl(kernel_shape: tuple[int, ...], backend: str | None = None) -> str:
  """The formulation 'auto' uses for a (kh, kw, Cin, Cout) kernel on `backend`."""
  backend = backend or jax.default_backend()
  kh, kw, cin, cout = kernel_shape
  if backend != 'cpu':
    return 'xla'
  if (kh, kw) == (1, 1):
    return 'matmul'
  if cout >= THIN_RATIO * cin:
    return 'patches'
  if cin >= THIN_RATIO * cout:
    return 'taps'
  return 'xla'


_FUNCTIONS = {'xla': conv_xla, 'matmul': conv_matmul, 'patches': conv_patches, 'taps': conv_taps}


def conv2d_same(x: jax.Array, kernel: jax.Array, impl: str = 'auto') -> jax.Array:
  """Stride-1 'SAME' cross-correlation, as `nn.Conv(padding='SAME')` computes it.

  x: (B, H, W, Cin); kernel: (kh, kw, Cin, Cout) with odd kh, kw. Returns
  (B, H, W, Cout). `impl` is one of IMPLS (module docstring).
  """
  if impl not in IMPLS:
    raise ValueError(f'conv impl must be one of {IMPLS}, got {impl!r}.')
  _check_kernel(kernel)
  if impl == 'auto':
    impl = choose_impl(kernel.shape)
  return _FUNCTIONS[impl](x, kernel)


class Conv(nn.Module):
  """Drop-in for `nn.Conv(features, kernel_size, padding='SAME')` (stride 1).

  Same parameter names, shapes and initialisers as nn.Conv (and, being named
  `Conv`, the same automatic module names), so parameter trees and checkpoints
  are interchangeable; only the computation differs (see `conv2d_same`).
  Input (B, H, W, Cin); output (B, H, W, features).
  """
  features: int
  kernel_size: tuple[int, int] = (3, 3)
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.linear.default_kernel_init
  bias_init: Callable[..., Any] = nn.initializers.zeros_init()
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    shape = (*self.kernel_size, x.shape[-1], self.features)
    kernel = self.param('kernel', self.kernel_init, shape, jnp.float32)
    y = conv2d_same(x, kernel.astype(x.dtype), self.impl)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,), jnp.float32).astype(x.dtype)
    return y
