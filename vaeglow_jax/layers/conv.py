"""Convolutions written in the forms XLA:CPU runs fastest: stride-1 'SAME' convolutions
as matmuls, and the stride-2 transposed convolution as a sub-pixel convolution.

XLA:CPU's convolution kernels, and above all their filter gradients, are slow
when one side of the convolution has few channels: the Glow coupling nets go
from C/2 channels (1 to 24) to `hidden` and back to C (BENCHMARKS.md, "Convolution
formulations"; benchmarks/conv_impl.py).

Three formulations besides XLA's own convolution, all exact and all plain JAX,
so every transformation works (jax.grad, jax.jvp, jax.hessian, vmap):
- 'matmul' (1x1 kernels): a dot over the channel axis.
- 'patches' (few input channels): gather each pixel's kh x kw neighbourhood
  into (B, H, W, kh*kw*Cin) and multiply by the flattened kernel.
- 'taps' (few output channels): multiply x by all kh*kw kernel taps at once,
  (B, H, W, Cin) @ (Cin, kh*kw*Cout), then shift and add the taps.
They are written so that autodiff's transposes are as cheap as hand-written
backward passes: each shift is one `lax.pad` (negative padding crops), whose
transpose is one pad; the taps are separated by `lax.split`, whose transpose is
one concatenate; matmuls are 2-D, so the filter gradient is one dot without a
layout copy of the output gradient (slices, 4-D dots and the earlier custom
VJPs are measured against these in BENCHMARKS.md, "Convolutions: custom VJPs against
plain JAX").

'auto' picks by shape on the CPU backend and uses XLA's convolution elsewhere
(GPU/TPU convolution libraries already handle these shapes).

The VAE decoder's upsampling, a 3x3 stride-2 'SAME' transposed convolution, is
a convolution of the input dilated by zeros: 3 of every 4 multiplications are by
zero, and XLA:CPU computes them all. `conv_transpose_subpixel` computes the same
function as one 2x2 convolution at the input resolution with 4 x Cout channels,
one per output phase, followed by depth-to-space (Shi et al. 2016's sub-pixel
convolution; benchmarks/conv_impl.py measures both).
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


def _offsets(kh: int, kw: int) -> list[tuple[int, int]]:
  """The (dh, dw) offsets of a kh x kw kernel's taps from its centre, row-major."""
  return [(i - kh // 2, j - kw // 2) for i in range(kh) for j in range(kw)]


def _check_kernel(kernel: jax.Array):
  kh, kw = kernel.shape[:2]
  if kh % 2 == 0 or kw % 2 == 0:
    raise ValueError(f"'SAME' convolutions here need odd kernel sizes, got {kh}x{kw}.")


def _shift(x: jax.Array, dh: int, dw: int) -> jax.Array:
  """(B, H, W, C) -> (B, H, W, C): y[:, h, w] = x[:, h + dh, w + dw], zero outside."""
  return lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (-dh, dh, 0), (-dw, dw, 0), (0, 0, 0)])


def _matmul(x: jax.Array, matrix: jax.Array) -> jax.Array:
  """(..., K) @ (K, N) -> (..., N) as one 2-D dot (see the module docstring)."""
  lead = x.shape[:-1]
  return (x.reshape(-1, x.shape[-1]) @ matrix).reshape(*lead, matrix.shape[-1])


def conv_patches(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """'SAME' stride-1 conv of x (B, H, W, Cin) with kernel (kh, kw, Cin, Cout), by patches."""
  kh, kw, cin, cout = kernel.shape
  patches = jnp.concatenate([_shift(x, dh, dw) for dh, dw in _offsets(kh, kw)], axis=-1)
  return _matmul(patches, kernel.reshape(kh * kw * cin, cout))


def conv_taps(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """'SAME' stride-1 conv of x (B, H, W, Cin) with kernel (kh, kw, Cin, Cout), by taps."""
  kh, kw, cin, cout = kernel.shape
  taps = _matmul(x, kernel.transpose(2, 0, 1, 3).reshape(cin, kh * kw * cout))
  parts = lax.split(taps, [cout] * (kh * kw), axis=3)
  shifted = [_shift(part, dh, dw) for part, (dh, dw) in zip(parts, _offsets(kh, kw))]
  out = shifted[0]
  for part in shifted[1:]:
    out = out + part
  return out


def conv_xla(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """XLA's own 'SAME' stride-1 NHWC convolution."""
  return lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def conv_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """1x1 conv as a dot over channels."""
  if kernel.shape[:2] != (1, 1):
    raise ValueError(f"impl='matmul' needs a 1x1 kernel, got {kernel.shape[0]}x{kernel.shape[1]}.")
  return _matmul(x, kernel[0, 0])


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


def conv_transpose_xla(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`nn.ConvTranspose(strides=(2, 2), padding='SAME')`'s own computation."""
  return lax.conv_transpose(x, kernel, (2, 2), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def _phase_kernel(kernel: jax.Array) -> jax.Array:
  """(3, 3, Cin, Cout) -> the (2, 2, Cin, 4 * Cout) kernel of `conv_transpose_subpixel`.

  With lax.conv_transpose's 'SAME' padding for k=3, s=2 (2 zeros before the dilated
  input), output row 2m takes kernel rows 0 and 2 at input rows m-1 and m, and row 2m+1
  takes kernel row 1 at input row m; columns alike. Offset index 0 is input m-1, 1 is m;
  the output phase (a, b) is channel block 2a + b.
  """
  zero = jnp.zeros_like(kernel[0, 0])

  def tap(phase: int, offset: int):
    """Kernel index used by output phase `phase` at input offset `offset`, or None."""
    if phase == 0:
      return 2 * offset
    return 1 if offset == 1 else None

  rows = []
  for dy in (0, 1):
    cols = []
    for dx in (0, 1):
      blocks = []
      for a in (0, 1):
        for b in (0, 1):
          i, j = tap(a, dy), tap(b, dx)
          blocks.append(zero if i is None or j is None else kernel[i, j])
      cols.append(jnp.concatenate(blocks, axis=-1))
    rows.append(jnp.stack(cols))
  return jnp.stack(rows)


def conv_transpose_subpixel(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """`conv_transpose_xla` for a 3x3 kernel, as a sub-pixel convolution (module docstring).

  x: (B, H, W, Cin); kernel: (3, 3, Cin, Cout). Returns (B, 2H, 2W, Cout).
  """
  if kernel.shape[:2] != (3, 3):
    raise ValueError(f'the sub-pixel transposed convolution needs a 3x3 kernel, got '
                     f'{kernel.shape[0]}x{kernel.shape[1]}.')
  batch, height, width, _ = x.shape
  cout = kernel.shape[-1]
  y = lax.conv_general_dilated(x, _phase_kernel(kernel), (1, 1), ((1, 0), (1, 0)),
                               dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  y = y.reshape(batch, height, width, 2, 2, cout).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(batch, 2 * height, 2 * width, cout)


TRANSPOSE_IMPLS = ('auto', 'xla', 'subpixel')


def conv_transpose_stride2(x: jax.Array, kernel: jax.Array, impl: str = 'auto') -> jax.Array:
  """3x3 stride-2 'SAME' transposed convolution, as `nn.ConvTranspose` computes it.

  x: (B, H, W, Cin); kernel: (3, 3, Cin, Cout). Returns (B, 2H, 2W, Cout). impl: one of
  TRANSPOSE_IMPLS; 'auto' is 'subpixel' on CPU and 'xla' elsewhere.
  """
  if impl not in TRANSPOSE_IMPLS:
    raise ValueError(f'transposed conv impl must be one of {TRANSPOSE_IMPLS}, got {impl!r}.')
  if impl == 'auto':
    impl = 'subpixel' if jax.default_backend() == 'cpu' else 'xla'
  return (conv_transpose_subpixel if impl == 'subpixel' else conv_transpose_xla)(x, kernel)


def _apply(module: nn.Module, x: jax.Array, kernel_shape: tuple[int, ...],
           conv: Callable[[jax.Array, jax.Array], jax.Array]) -> jax.Array:
  """conv(x, kernel) + bias with `module`'s float32 parameters (flax's names) cast to x's dtype."""
  kernel = module.param('kernel', module.kernel_init, kernel_shape, jnp.float32)
  y = conv(x, kernel.astype(x.dtype))
  if module.use_bias:
    y = y + module.param('bias', module.bias_init, (module.features,), jnp.float32).astype(x.dtype)
  return y


def zeros(key, shape, dtype=jnp.float32) -> jax.Array:
  """The bias's initial value, zeros of `shape` (key unused), as nn.initializers.zeros_init()."""
  del key
  return jnp.zeros(shape, dtype)


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
  bias_init: Callable[..., Any] = zeros
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (batch, H, W, C_in) -> (batch, H, W, features): a stride-1 SAME convolution with nn.Conv's
    parameters (kernel, bias), in x's dtype."""
    shape = (*self.kernel_size, x.shape[-1], self.features)
    return _apply(self, x, shape, lambda x, kernel: conv2d_same(x, kernel, self.impl))


class ConvTranspose(nn.Module):
  """Drop-in for `nn.ConvTranspose(features, (3, 3), strides=(2, 2), padding='SAME')`.

  Same parameter names, shapes and initialisers as nn.ConvTranspose, so parameter trees and
  checkpoints are interchangeable; `impl` (TRANSPOSE_IMPLS) chooses the computation.
  Input (B, H, W, Cin); output (B, 2H, 2W, features).
  """
  features: int
  use_bias: bool = True
  kernel_init: Callable[..., Any] = nn.linear.default_kernel_init
  bias_init: Callable[..., Any] = zeros
  impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (batch, H, W, C_in) -> (batch, 2H, 2W, features): the 3x3 stride-2 transposed convolution
    as a sub-pixel convolution."""
    shape = (3, 3, x.shape[-1], self.features)
    return _apply(self, x, shape, lambda x, kernel: conv_transpose_stride2(x, kernel, self.impl))
