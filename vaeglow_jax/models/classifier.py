"""The small CNN classifier whose penultimate layer is the offline FID feature space
(evaluation.metrics.feature_extractor loads it, training.feature_extractor trains it)."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ARCHS = ('strided', 'pooled')


class Classifier(nn.Module):
  """(batch, H, W, C) images in [0, 1] -> (logits (batch, classes), features (batch, feature_dim)).

  arch 'strided': per width, a 3x3 conv and a stride-2 3x3 conv, then a global mean;
  'pooled' (a second, independent feature space): per width, one 5x5 conv, GELU and a 2x2 max
  pool, then flattened (no global pooling, so the features keep where things are)."""
  num_classes: int = 10
  widths: Sequence[int] = (32, 64, 128)
  feature_dim: int = 128
  arch: str = 'strided'

  @nn.compact
  def __call__(self, images):
    """images: (batch, H, W, C) float32 in [0, 1] -> (logits (batch, num_classes), features (batch,
    feature_dim)): the features are the offline FID space."""
    x = 2.0 * images - 1.0
    if self.arch == 'pooled':
      for i, width in enumerate(self.widths):
        x = nn.gelu(nn.Conv(width, (5, 5), name=f'conv{i}')(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2), padding='SAME')
      x = x.reshape(x.shape[0], -1)
    elif self.arch == 'strided':
      for i, width in enumerate(self.widths):
        x = nn.relu(nn.Conv(width, (3, 3), name=f'conv{i}_a')(x))
        x = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2), name=f'conv{i}_b')(x))
      x = jnp.mean(x, axis=(1, 2))
    else:
      raise ValueError(f'feature_extractor.arch must be one of {ARCHS}, got {self.arch!r}.')
    features = nn.relu(nn.Dense(self.feature_dim, name='features')(x))
    return nn.Dense(self.num_classes, name='logits')(features), features


def accuracy_of(model, params, images, labels, batch: int = 1000) -> float:
  """Fraction of uint8 `images` (n, H, W, C) whose argmax logit is their label (n,)."""
  apply = jax.jit(lambda p, x: model.apply({'params': p}, x.astype(jnp.float32) / 255.0)[0])
  correct = 0
  for i in range(0, len(images), batch):
    correct += int((np.argmax(apply(params, images[i:i + batch]), -1) == labels[i:i + batch]).sum())
  return correct / len(images)
