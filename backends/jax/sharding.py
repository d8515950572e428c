"""One image over several devices: a ``jax.sharding.Mesh`` of them along the image's height.

The network's parameters and the targets are replicated; every activation is split by rows
(``split_rows``), so XLA partitions each convolution and pooling and exchanges the rows at
the shards' edges, and a Gram matrix, a sum over positions, becomes a sum over devices. The
optimiser's image-shaped arrays (the image, Adam's moments, L-BFGS's history, the moving
average) live split by rows between steps too, so a device holds its share of them.

An array crossing ``jit``'s boundary must split evenly, so the optimiser's arrays have their
rows padded to a multiple of the devices (``padded_rows``) and the objective sees the image's
rows only: the padding gets a zero gradient and never moves. Inside a computation XLA splits
uneven maps (a deeper level's rows) itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "height"
# Where a backend puts arrays: one device, or replicated over a mesh.
Placement = jax.Device | jax.sharding.Sharding


def device_mesh(devices: Sequence[jax.Device]) -> Mesh | None:
    """The devices along the rows; None for one device, which runs as it always has."""
    return Mesh(np.asarray(devices), (AXIS,)) if len(devices) > 1 else None


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def rows_at(mesh: Mesh, axis: int) -> NamedSharding:
    """Split along ``axis`` (an image's rows), whole along the others."""
    return NamedSharding(mesh, PartitionSpec(*[None] * axis, AXIS))


def split_rows(x: jax.Array, mesh: Mesh | None, axis: int) -> jax.Array:
    """``x`` split by rows along ``axis`` inside a traced computation (unchanged without a mesh)."""
    return x if mesh is None else jax.lax.with_sharding_constraint(x, rows_at(mesh, axis))


def padded_rows(rows: int, mesh: Mesh | None) -> int:
    """Rows of the optimiser's arrays: ``rows`` up to a multiple of the devices."""
    return rows if mesh is None else -(-rows // mesh.size) * mesh.size


def state_sharding(mesh: Mesh, shape: tuple[int, ...], image_shape: tuple[int, ...]) -> NamedSharding:
    """An optimiser array's place: split by rows if it ends in the image's shape (the image, a
    moment, a history of steps), else replicated (counts, scalars, a line search's numbers)."""
    if len(shape) >= 3 and tuple(shape[-3:]) == tuple(image_shape):
        return rows_at(mesh, len(shape) - 3)
    return replicated(mesh)


def place_state(tree: Any, mesh: Mesh, image_shape: tuple[int, ...]) -> Any:
    """``tree`` (host or device arrays) on the mesh, each leaf where ``state_sharding`` says."""
    return jax.tree.map(
        lambda leaf: jax.device_put(leaf, state_sharding(mesh, leaf.shape, image_shape)), tree
    )


def keep_state(tree: Any, mesh: Mesh | None, image_shape: tuple[int, ...]) -> Any:
    """``place_state`` inside a traced computation: what a compiled step returns goes back
    where it came from, so the next call donates into it and finds its executable cached."""
    if mesh is None:
        return tree
    return jax.tree.map(
        lambda leaf: jax.lax.with_sharding_constraint(leaf, state_sharding(mesh, leaf.shape, image_shape)),
        tree,
    )
