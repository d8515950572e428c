"""The tile plan: how an image too large for one pass is evaluated tile by tile, exactly.

Every loss term is local (content) or a sum over positions (Gram matrices, means and
covariances, guided Grams), so the loss and its gradient can be computed tile by tile with no
seam and no approximation (docs/tiling.md):

- The image is cut into square *cores* of ``core`` px that cover every pixel once; the last
  row and column of cores may reach past the image. Each tile's input is its core with a
  *halo* of ``halo`` px on every side, enough for the receptive field of the deepest layer,
  so the features at the core's positions are those of the whole image.
- Cores and halos are multiples of the network's grid (2 ** poolings before the deepest
  layer), so a tile's pooling windows are the whole image's.
- Positions outside the image (the halo past an edge, the part of a last core past it) are
  zeroed before every convolution: that is the whole image's zero padding. A level's valid
  positions are ``floor(side / 2**level)``, as pooling floors an odd side.

A backend evaluates the plan in two passes. Pass 1 runs each tile forward and adds its core
positions' share to every additive sum (content errors, Gram sums); the loss is a function of
those sums, so after pass 1 the loss and dL/d(sum) are known. Pass 2 runs each tile forward
and backward with those coefficients as the sums' cotangents and adds the tile's input
gradient, halo included, into the image's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nst.arch import Arch
from nst.errors import NstError


def receptive_extent(arch: Arch, layers: Sequence[str]) -> int:
    """Input pixels beyond a core's edge that can reach the deepest of ``layers``' values at
    the core: each 3 x 3 convolution at level k reaches 2**k px further. A 2 x 2 pooling adds
    nothing past the edge: cores on the grid hold whole pooling windows."""
    extent, level = 0, 0
    for name in arch.cut(layers):
        if name.startswith("conv"):
            extent += 2**level
        elif name.startswith("pool"):
            level += 1
    return extent


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class TilePlan:
    """Tiles of ``core`` px with ``halo`` px around them over a ``height`` x ``width`` image."""

    height: int
    width: int
    core: int
    halo: int
    grid: int
    levels: int  # poolings before the deepest layer: feature maps at levels 0..levels

    @property
    def rows(self) -> int:
        return math.ceil(self.height / self.core)

    @property
    def cols(self) -> int:
        return math.ceil(self.width / self.core)

    @property
    def count(self) -> int:
        return self.rows * self.cols

    @property
    def side(self) -> int:
        """A tile's input side: its core and both halos."""
        return self.core + 2 * self.halo

    @property
    def padded_shape(self) -> tuple[int, int]:
        """The image padded so that every tile's input lies inside it: a halo around the
        cores, which may reach past the image's bottom and right."""
        return self.rows * self.core + 2 * self.halo, self.cols * self.core + 2 * self.halo

    def origins(self) -> list[tuple[int, int]]:
        """Each tile's input origin in padded coordinates, which is its core's origin in
        image coordinates; row by row."""
        return [(r * self.core, c * self.core) for r in range(self.rows) for c in range(self.cols)]

    def valid_length(self, level: int, axis: int) -> int:
        """Positions of the whole image's feature map at ``level`` along ``axis`` (0: rows)."""
        return (self.height, self.width)[axis] // 2**level

    def inside(self, origin: int, level: int, axis: int) -> np.ndarray:
        """Which of a tile's positions at ``level`` along ``axis`` (0: rows) lie inside the
        image, for a tile whose input starts at ``origin`` (padded coordinates): a float32
        vector of length side / 2**level."""
        step = 2**level
        position = (origin - self.halo) // step + np.arange(self.side // step)
        return ((position >= 0) & (position < self.valid_length(level, axis))).astype(np.float32)

    def core_positions(self, level: int) -> slice:
        """The core's positions among a tile's positions at ``level``."""
        step = 2**level
        return slice(self.halo // step, (self.halo + self.core) // step)

    def core_slice(self, origin: int, level: int) -> slice:
        """The core's positions at ``level`` in the whole image's map padded to whole cores."""
        step = 2**level
        return slice(origin // step, (origin + self.core) // step)

    def padded_map_shape(self, level: int) -> tuple[int, int]:
        """A level's map padded to whole cores (``core_slice`` indexes into it)."""
        step = 2**level
        return self.rows * self.core // step, self.cols * self.core // step


def plan_tiles(height: int, width: int, core: int, arch: Arch, layers: Sequence[str]) -> TilePlan:
    """Tiles of ``core`` px (rounded up to the network's grid) for the deepest of ``layers``."""
    levels = arch.downsampling(layers)
    grid = 2**levels
    if core < grid:
        raise NstError(f"--tile {core} is smaller than the network's grid of {grid} px; use at least {grid}")
    core = round_up(min(core, max(height, width)), grid)
    halo = round_up(receptive_extent(arch, layers), grid)
    return TilePlan(height, width, core, halo, grid, levels)


def level_of(arch: Arch, layer: str) -> int:
    """How many poolings come before ``layer``: its map is the image's over 2**level."""
    return arch.downsampling([layer])


def layer_positions(plan: TilePlan, arch: Arch, layer: str) -> int:
    """Positions of ``layer``'s map of the whole image: the M its sums are averaged over."""
    level = level_of(arch, layer)
    return plan.valid_length(level, 0) * plan.valid_length(level, 1)


def core_crop(values: np.ndarray, plan: TilePlan, origin: tuple[int, int], level: int) -> np.ndarray:
    """A tile core's part of a map at ``level`` (... x H_l x W_l, the last two axes spatial),
    zero-padded where the core reaches past the map."""
    rows, cols = plan.padded_map_shape(level)
    padded = np.zeros((*values.shape[:-2], rows, cols), values.dtype)
    height, width = min(values.shape[-2], rows), min(values.shape[-1], cols)
    padded[..., :height, :width] = values[..., :height, :width]
    return padded[..., plan.core_slice(origin[0], level), plan.core_slice(origin[1], level)]
