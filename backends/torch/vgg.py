"""VGG as a torch module built from ``nst.arch.Arch``, cut after the deepest needed layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nst.arch import Arch, Preprocess


class VGGFeatures(nn.Module):
    """Frozen VGG features: ``forward(x)`` maps an N x 3 x H x W RGB [0,1] batch to the
    requested layers' activations. Preprocessing (channel order, pixel range, mean, std) is the
    first operation, so callers always work in RGB [0,1]."""

    # Buffers (register_buffer in __init__), declared here so that they type as tensors.
    gain: torch.Tensor
    shift: torch.Tensor

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        arch: Arch,
        preprocess: Preprocess,
        layers: Sequence[str],
        pooling: str,
    ):
        super().__init__()
        self.arch = arch
        self.layers = tuple(layers)
        self.pooling = pooling
        self.sequence = arch.cut(layers)
        self.order = list(preprocess.order)
        self.register_buffer("gain", _per_channel(preprocess.pixel_max / np.asarray(preprocess.std)))
        self.register_buffer("shift", _per_channel(np.asarray(preprocess.mean) / np.asarray(preprocess.std)))
        self.convs = nn.ModuleDict()
        for name in self.sequence:
            if name.startswith("conv"):
                weight = torch.from_numpy(np.ascontiguousarray(params[f"{name}.weight"], np.float32))
                conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
                bias = torch.from_numpy(np.asarray(params[f"{name}.bias"], np.float32))
                conv.load_state_dict({"weight": weight, "bias": bias})
                self.convs[name] = conv
        self.requires_grad_(False)
        self.eval()

    def forward(
        self, x: torch.Tensor, inside: Sequence[torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """``inside``: for a tile (``nst.tiling``), per level an H_l x W_l map that is 1 where
        the tile's positions lie inside the image; the rest is zeroed before each convolution,
        as the whole image's zero padding would be."""
        if self.order != [0, 1, 2]:
            # Slices, not an index list: a list becomes a host-to-device copy, which a CUDA
            # graph capture does not allow.
            x = torch.cat([x[:, channel : channel + 1] for channel in self.order], 1)
        x = x * self.gain - self.shift
        wanted, out, level = set(self.layers), {}, 0
        for name in self.sequence:
            if name.startswith("conv"):
                if inside is not None:
                    x = x * inside[level]
                x = self.convs[name](x)
            elif name.startswith("relu"):
                x = F.relu(x)
            else:
                x = F.avg_pool2d(x, 2) if self.pooling == "avg" else F.max_pool2d(x, 2)
                level += 1
            if name in wanted:
                out[name] = x
        return out


def _per_channel(values) -> torch.Tensor:
    return torch.tensor(np.asarray(values, np.float32)).reshape(1, 3, 1, 1)
