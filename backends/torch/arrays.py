"""Images between numpy (H x W x 3) and torch (1 x 3 x H x W)."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """H x W x 3 numpy -> 1 x 3 x H x W float32 tensor on ``device``."""
    array = np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)[None])
    return torch.from_numpy(array).to(device)


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W -> a new H x W x 3 array (on CPU, .numpy() alone would share the
    optimiser's storage and change under the caller's feet)."""
    return np.array(image[0].permute(1, 2, 0).float().cpu().numpy())
