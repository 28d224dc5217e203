"""Our multi-scale Glow against the same Glow built with the `normflows` PyTorch package.

Run: python -m benchmarks.peer [--steps=24] [--out=FILE]   (--tiny: a smoke test;
--bf16: both sides in bfloat16 mixed precision)
Configurations (the issue's): L=3, K=8, hidden 128, affine coupling, LU 1x1 conv at 32x32x3,
batch 16 and 64; L=2 at 28x28x1, batch 16 and 64. One Adam step each on random 8-bit data,
dequantised to [0, 1). Runs alternate (ours, theirs, ours, ...) in rounds so load on the
machine hits both alike; medians over all timed steps. Checks that the parameter counts
agree within 1% and reports FLOPs per step (XLA cost analysis for ours, torch's
FlopCounterMode for theirs).
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
from absl import app, flags

from benchmarks import harness
from benchmarks.peer_configs import BF16_NETS, CONFIGS, TINY_CONFIGS, ours

_STEPS = flags.DEFINE_integer('steps', 24, 'timed steps per model and configuration (>= 20)')
_ROUNDS = flags.DEFINE_integer('rounds', 4, 'alternations between the two implementations')
_TINY = flags.DEFINE_bool('tiny', False, 'smoke test: 8x8 images, L=2, K=2, hidden 8')
_OUT = flags.DEFINE_string('out', '', 'also write the JSON here')
_BF16 = flags.DEFINE_bool('bf16', False, 'both in bfloat16 mixed precision: our coupling nets in '
                          'bfloat16 (net_dtype), normflows under torch.autocast(bfloat16)')
_TORCH_DEVICE = flags.DEFINE_enum('torch_device', 'auto', ['auto', 'cpu', 'cuda'],
                                  "normflows' device; auto: CUDA when PyTorch sees a GPU (ours runs "
                                  "on JAX's default backend)")


def normflows_glow(shape, levels, depth, hidden):
  """normflows' multi-scale Glow (its documented construction), affine, LU, channel split."""
  import normflows as nf
  height, width, channels = shape
  flows, merges, q0 = [], [], []
  for i in range(levels):
    blocks = [nf.flows.GlowBlock(channels * 2 ** (levels + 1 - i), hidden, split_mode='channel',
                                 scale=True, use_lu=True) for _ in range(depth)]
    flows.append(blocks + [nf.flows.Squeeze()])
    if i > 0:
      merges.append(nf.flows.Merge())
      latent = (channels * 2 ** (levels - i), height // 2 ** (levels - i), width // 2 ** (levels - i))
    else:
      latent = (channels * 2 ** (levels + 1), height // 2 ** levels, width // 2 ** levels)
    q0.append(nf.distributions.DiagGaussian(latent))
  return nf.MultiscaleFlow(q0, flows, merges, class_cond=False)


def torch_device(choice: str) -> str:
  """'cpu' or 'cuda' for --torch_device (auto: CUDA when PyTorch sees a GPU)."""
  import torch
  if choice == 'auto':
    return 'cuda' if torch.cuda.is_available() else 'cpu'
  return choice


class TorchBench:
  """normflows' Glow train step on `device`; bf16: the forward pass under autocast to bfloat16
  (its convolutions and matmuls in bfloat16, reductions and log-dets as autocast keeps them)."""

  def __init__(self, shape, levels, depth, hidden, batch, seed=0, bf16=False, device='cpu'):
    import torch
    torch.manual_seed(seed)
    self.torch = torch
    self.device = device
    self.precision = contextlib.nullcontext
    if bf16:
      self.precision = lambda: torch.autocast(device, dtype=torch.bfloat16)
    # .float(): normflows keeps the LU factors of its 1x1 convs in float64; train in float32 as we do.
    self.model = normflows_glow(shape, levels, depth, hidden).float().to(device)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch,) + tuple(shape)).astype(np.float32)
    x = ((images + rng.uniform(size=images.shape)) / 256.0).astype(np.float32)
    self.x = torch.tensor(np.transpose(x, (0, 3, 1, 2)).copy()).to(device)
    with torch.no_grad():
      self.model.forward_kld(self.x)  # ActNorm's data-dependent initialisation
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)

  def parameters(self) -> int:
    return int(sum(p.numel() for p in self.model.parameters() if p.requires_grad))

  def step(self):
    self.optimizer.zero_grad(set_to_none=True)
    with self.precision():
      loss = self.model.forward_kld(self.x)
    loss.backward()
    self.optimizer.step()
    return float(loss)  # waits for the device (a CUDA step is asynchronous until here)

  def flops(self) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
      with self.precision():
        loss = self.model.forward_kld(self.x)
      loss.backward()
    self.optimizer.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())

  def step_seconds(self, steps):
    times = []
    for _ in range(steps):
      start = time.perf_counter()
      self.step()
      times.append(time.perf_counter() - start)
    return times


def main(argv):
  del argv
  import torch
  results = []
  device = torch_device(_TORCH_DEVICE.value)
  result = {'benchmark': 'peer', 'precision': 'bfloat16 mixed' if _BF16.value else 'float32',
            'machine': harness.machine(), 'torch': torch.__version__, 'torch_device': device,
            'torch_threads': torch.get_num_threads(), 'results': results, 'target_speedup': 1.5}
  for shape, levels, depth, hidden, batch in (TINY_CONFIGS if _TINY.value else CONFIGS):
    mine = ours(shape, levels, depth, hidden, batch, **(BF16_NETS if _BF16.value else {}))
    theirs = TorchBench(shape, levels, depth, hidden, batch, bf16=_BF16.value, device=device)
    per_round = max(1, -(-_STEPS.value // _ROUNDS.value))
    mine_times, their_times = [], []
    mine.step_seconds(1, warmup=2)
    theirs.step_seconds(2)
    for _ in range(_ROUNDS.value):
      mine_times += mine.step_seconds(per_round, warmup=0)
      their_times += theirs.step_seconds(per_round)
    p_ours, p_theirs = mine.trainable_parameters(), theirs.parameters()
    row = {'image_shape': list(shape), 'levels': levels, 'depth': depth, 'hidden': hidden,
           'batch': batch, 'timed_steps_each': len(mine_times),
           'ours_median_step_seconds': harness.median(mine_times),
           'normflows_median_step_seconds': harness.median(their_times),
           'ours_images_per_second': batch / harness.median(mine_times),
           'normflows_images_per_second': batch / harness.median(their_times),
           'ours_parameters': p_ours, 'normflows_parameters': p_theirs,
           'parameter_count_relative_difference': abs(p_ours - p_theirs) / p_theirs,
           'ours_flops_per_step': mine.flops(), 'normflows_flops_per_step': theirs.flops()}
    row['speedup'] = row['ours_images_per_second'] / row['normflows_images_per_second']
    results.append(row)
    print(f"{shape} L{levels} K{depth} h{hidden} b{batch}: ours {row['ours_images_per_second']:.0f} "
          f"img/s, normflows {row['normflows_images_per_second']:.0f} img/s, "
          f"x{row['speedup']:.2f}; params {p_ours} vs {p_theirs}", flush=True)
    result['min_speedup'] = min(r['speedup'] for r in results)
    harness.write(result, _OUT.value)
  harness.emit(result, _OUT.value)


if __name__ == '__main__':
  app.run(main)
