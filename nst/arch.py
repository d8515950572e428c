"""VGG16 and VGG19 described as data, with canonical layer names, and the input preprocessing
that belongs to a set of weights.

An architecture is a list of blocks; each block is a run of 3x3 convolutions (given by their output
channel counts) followed by a 2x2 pool. Layer names follow the paper's convention:
``conv{block}_{index}``, ``relu{block}_{index}``, ``pool{block}``. Parameters are keyed
``conv{b}_{i}.weight`` (OIHW, torchvision layout) and ``conv{b}_{i}.bias``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from nst.errors import NstError

_LAYER_NAME = re.compile(r"[a-z]+(\d+)_?(\d*)")


def layer_block(layer: str) -> int | None:
    """The VGG block a layer name such as relu4_1 or pool3 is in; None for other names."""
    match = _LAYER_NAME.fullmatch(layer)
    return None if match is None else int(match.group(1))


@dataclass(frozen=True)
class Arch:
    """A VGG-style architecture: ``blocks[b]`` lists the output channels of block b's convs."""

    name: str
    blocks: tuple[tuple[int, ...], ...]
    in_channels: int = 3

    @cached_property
    def convs(self) -> tuple[tuple[str, int, int], ...]:
        """(name, in_channels, out_channels) of every conv, in order."""
        out, channels = [], self.in_channels
        for b, block in enumerate(self.blocks, start=1):
            for i, width in enumerate(block, start=1):
                out.append((f"conv{b}_{i}", channels, width))
                channels = width
        return tuple(out)

    @cached_property
    def layers(self) -> tuple[str, ...]:
        """Every named layer in forward order: conv, relu, ..., pool."""
        names = []
        for b, block in enumerate(self.blocks, start=1):
            for i in range(1, len(block) + 1):
                names += [f"conv{b}_{i}", f"relu{b}_{i}"]
            names.append(f"pool{b}")
        return tuple(names)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for name, cin, cout in self.convs:
            shapes[f"{name}.weight"] = (cout, cin, 3, 3)
            shapes[f"{name}.bias"] = (cout,)
        return shapes

    def channels(self, layer: str) -> int:
        """Output channels of a named layer."""
        self.check_layers([layer])
        match = _LAYER_NAME.fullmatch(layer)
        if match is None:  # check_layers has refused it already
            raise NstError(f"unknown layer {layer!r}")
        block, index = match.group(1, 2)
        widths = self.blocks[int(block) - 1]
        return widths[int(index) - 1] if index else widths[-1]

    def check_layers(self, names) -> None:
        for name in names:
            if name not in self.layers:
                raise NstError(
                    f"unknown layer {name!r} for {self.name}; "
                    f"choose from {self.layers[0]} .. {self.layers[-1]} (see `nst layers`)"
                )

    def cut(self, names) -> tuple[str, ...]:
        """The layers up to and including the deepest of ``names``: all a forward pass needs."""
        self.check_layers(names)
        deepest = max(self.layers.index(n) for n in names)
        return self.layers[: deepest + 1]

    def downsampling(self, names) -> int:
        """How many times the input is halved before the deepest of ``names``."""
        return sum(1 for n in self.cut(names) if n.startswith("pool"))


VGG16 = Arch("vgg16", ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)))
VGG19 = Arch("vgg19", ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4))
# Same cfg machinery as VGG16 with a handful of channels: fast tests of every option.
TINY = Arch("tiny", ((4, 4), (8, 8), (8, 8, 8), (16, 16, 16), (16, 16, 16)))

ARCHS = {a.name: a for a in (VGG16, VGG19, TINY)}


@dataclass(frozen=True)
class Preprocess:
    """How an RGB [0,1] image becomes the network's input; it belongs to the weights.

    input = (rgb[..., order] * pixel_max - mean) / std, channel by channel.
    torchvision: RGB, pixel_max 1, ImageNet mean/std. Caffe: BGR, pixel_max 255, mean pixel, std 1.
    """

    name: str
    description: str
    order: tuple[int, int, int] = (0, 1, 2)
    pixel_max: float = 1.0  # the input value of full intensity
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __str__(self) -> str:
        return f"{self.name} ({self.description})"


TORCHVISION = Preprocess("torchvision", "RGB in [0, 1], ImageNet mean/std")
CAFFE = Preprocess(
    "caffe",
    "BGR in 0..255 minus the mean pixel",
    order=(2, 1, 0),
    pixel_max=255.0,
    mean=(103.939, 116.779, 123.68),
    std=(1.0, 1.0, 1.0),
)
PREPROCESSES = {p.name: p for p in (TORCHVISION, CAFFE)}


def infer_arch(params) -> Arch:
    """The architecture whose keys and shapes ``params`` matches exactly, or a clear error."""
    first_mismatch = {}
    for arch in (VGG19, VGG16, TINY):
        expected = arch.param_shapes()
        problem = None
        for key, shape in expected.items():
            if key not in params:
                problem = f"missing key {key}"
                break
            if tuple(params[key].shape) != shape:
                problem = f"{key} has shape {tuple(params[key].shape)}, expected {shape}"
                break
        if problem is None:
            extra = sorted(set(params) - set(expected))
            if not extra:
                return arch
            problem = f"unexpected key {extra[0]}"
        first_mismatch[arch.name] = problem
    details = "; ".join(f"{name}: {p}" for name, p in first_mismatch.items())
    raise NstError(f"weights match no known VGG architecture ({details})")


def random_params(arch: Arch, seed: int = 0) -> dict[str, np.ndarray]:
    """He-initialised float32 weights, for tests and benchmarks that need no real network."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, cin, cout in arch.convs:
        std = np.sqrt(2.0 / (cin * 9))
        params[f"{name}.weight"] = (rng.standard_normal((cout, cin, 3, 3)) * std).astype(np.float32)
        params[f"{name}.bias"] = (rng.standard_normal(cout) * 0.01).astype(np.float32)
    return params
