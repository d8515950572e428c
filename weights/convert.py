"""Conversions between the canonical parameters and torchvision / Flax layouts.

Canonical: ``{"conv1_1.weight": OIHW float32, "conv1_1.bias": (O,), ...}`` (nst.arch).
torchvision: ``features.<index>.weight`` with the index of the conv in ``VGG.features``.
Flax: ``{"conv1_1": {"kernel": HWIO, "bias": (O,)}, ...}``, as flax.linen.Conv stores them.
Every conversion ends in ``infer_arch``, which asserts every key and shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nst.arch import ARCHS, VGG19, Arch, infer_arch
from nst.errors import NstError

# canonical parameter -> (Flax parameter, axes that permute OIHW into HWIO)
TO_FLAX = {"weight": ("kernel", (2, 3, 1, 0)), "bias": ("bias", (0,))}
# Flax parameter -> (canonical parameter, axes that permute HWIO into OIHW)
FROM_FLAX = {"kernel": ("weight", (3, 2, 0, 1)), "bias": ("bias", (0,))}


def torchvision_prefixes(arch: Arch) -> dict[str, str]:
    """Canonical conv name -> its ``features.<index>`` in torchvision's VGG.

    torchvision's ``features`` Sequential holds Conv2d, ReLU for every conv and one MaxPool2d
    after every block, so the index advances by 2 per conv and by 1 more per block.
    """
    prefixes, index = {}, 0
    for b, block in enumerate(arch.blocks, start=1):
        for i in range(1, len(block) + 1):
            prefixes[f"conv{b}_{i}"] = f"features.{index}"
            index += 2
        index += 1
    return prefixes


def to_torchvision(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    arch = infer_arch(params)
    return {
        f"{prefix}.{kind}": params[f"{name}.{kind}"]
        for name, prefix in torchvision_prefixes(arch).items()
        for kind in ("weight", "bias")
    }


def from_torchvision(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename ``features.*`` keys to canonical ones; ``classifier.*`` is not ours and is dropped."""
    features = {key: value for key, value in state.items() if not key.startswith("classifier.")}
    n_convs = len({key.rsplit(".", 1)[0] for key in features if key.startswith("features.")})
    # Pick the layout by conv count; with no match VGG19's renaming lets infer_arch name the problem.
    arch = next((a for a in ARCHS.values() if len(a.convs) == n_convs), VGG19)
    renames = {
        f"{prefix}.{kind}": f"{name}.{kind}"
        for name, prefix in torchvision_prefixes(arch).items()
        for kind in ("weight", "bias")
    }
    return canonical({renames.get(key, key): value for key, value in features.items()})


def to_flax(params: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Canonical parameters -> Flax's nested ``{"conv1_1": {"kernel": HWIO, "bias": ...}}``."""
    infer_arch(params)
    tree: dict[str, dict[str, np.ndarray]] = {}
    for key, value in params.items():
        layer, kind = key.split(".")
        flax_name, axes = TO_FLAX[kind]
        tree.setdefault(layer, {})[flax_name] = np.ascontiguousarray(np.transpose(value, axes))
    return tree


def from_flax(tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Flax's nested parameters (optionally under ``"params"``) -> canonical parameters."""
    if set(tree) == {"params"}:
        tree = tree["params"]
    params = {}
    for layer, leaves in tree.items():
        if not isinstance(leaves, Mapping):
            raise NstError(f"Flax parameters: expected a dict of kernel/bias under {layer!r}")
        for flax_name, value in leaves.items():
            if flax_name not in FROM_FLAX:
                raise NstError(f"Flax parameters: unexpected entry {layer}/{flax_name}")
            kind, axes = FROM_FLAX[flax_name]
            if np.ndim(value) != len(axes):
                raise NstError(
                    f"Flax parameters: {layer}/{flax_name} has shape "
                    f"{np.shape(value)}, expected {len(axes)} dimensions"
                )
            params[f"{layer}.{kind}"] = np.transpose(value, axes)
    return canonical(params)


def canonical(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Contiguous float32 copies of ``params`` after checking every key and shape."""
    infer_arch(params)
    return {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in params.items()}


def to_canonical(tree: Mapping) -> dict[str, np.ndarray]:
    """Any supported layout (canonical, torchvision, Flax-nested) -> canonical parameters."""
    if any(isinstance(value, Mapping) for value in tree.values()):
        return from_flax(tree)
    if any(key.startswith("features.") for key in tree):
        return from_torchvision(tree)
    return canonical(tree)
