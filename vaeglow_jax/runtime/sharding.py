"""Data parallelism: the 'data' mesh over every device of every process, and batches and
parameters placed on it (shared by training, evaluation and sampling)."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from vaeglow_jax.errors import UserError


class MeshError(UserError, ValueError):
  """A device count that leaves a process out of the mesh (bad input, not a bug)."""


def make_mesh(num_devices: int | None = None):
  """1-D mesh, axis name 'data', over the first num_devices devices of all hosts (all if None
  or 0). Raises MeshError if that leaves a process without a device: it would hold no shard
  of the replicated state and fail at its first read."""
  if num_devices is not None and not 0 <= num_devices <= jax.device_count():
    raise MeshError(f'num_devices={num_devices}, but this run has {jax.device_count()} '
                    f'{jax.devices()[0].platform} device(s); set --config.num_devices to 1..'
                    f'{jax.device_count()}, or 0 for every device.')
  devices = jax.devices()[:num_devices] if num_devices else jax.devices()
  missing = sorted(set(range(jax.process_count())) - {d.process_index for d in devices})
  if missing:
    raise MeshError(f'num_devices={num_devices} leaves process {missing[0]} of '
                    f'{jax.process_count()} without a device ({jax.device_count()} devices in '
                    'all); set --config.num_devices=0 (every device) or a count that reaches '
                    'every process.')
  return jax.sharding.Mesh(np.asarray(devices), ('data',))


def describe_mesh(mesh, batch_size: int) -> str:
  """'1 process, 4 cpu devices (4 local), mesh {'data': 4}, 16 examples per device'."""
  processes = jax.process_count()
  kind = mesh.devices.flat[0].platform
  return (f"{processes} process{'es' if processes > 1 else ''}, {mesh.size} {kind} device"
          f"{'s' if mesh.size > 1 else ''} ({len(mesh.local_devices)} local), mesh "
          f"{dict(mesh.shape)}, {batch_size // mesh.size} examples per device")


class BatchSizeError(UserError, ValueError):
  """A batch size the device mesh cannot split evenly (bad input, not a bug)."""


def check_batch_size(batch_size: int, mesh, key: str = 'batch_size') -> None:
  """Raises BatchSizeError unless batch_size is a positive multiple of the mesh's devices;
  key: the config key the message names (e.g. 'eval.batch_size')."""
  if batch_size <= 0 or batch_size % mesh.size:
    devices = ('' if batch_size <= 0 else
               f', or use a device count that divides {batch_size}: --config.num_devices, or on '
               'CPU --config.cpu_devices')
    raise BatchSizeError(f'{key} {batch_size} must be a positive multiple of the device count '
                         f'{mesh.size}; set --config.{key} to a multiple of {mesh.size}{devices}.')


def shard_batch(local_batch: np.ndarray, mesh) -> jax.Array:
  """Process-local numpy batch -> global array sharded over the 'data' axis."""
  sharding = NamedSharding(mesh, P('data'))
  if isinstance(local_batch, jax.Array) and local_batch.sharding == sharding:
    return local_batch  # already a global batch on the mesh
  return jax.make_array_from_process_local_data(sharding, local_batch)


def replicate(tree, mesh):
  return jax.device_put(tree, NamedSharding(mesh, P()))
