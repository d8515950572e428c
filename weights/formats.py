"""Weight files by suffix: readers return the file's own layout, writers take canonical params.

Readers: .safetensors and .npz (canonical or torchvision keys), .pth/.pt (a torchvision-style
state_dict), .msgpack (Flax parameters written by flax.serialization).
Writers: .safetensors and .npz (canonical), .msgpack (Flax parameters).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, cast

import numpy as np
from safetensors.numpy import load_file, save_file

from nst.errors import NstError
from nst.weights.cache import atomic_write
from nst.weights.convert import to_flax
from nst.weights.torchfile import read_pth


def read_weights_file(path: Path) -> dict:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise NstError(f"cannot read weights from {path}: use a {', '.join(READERS)} file")
    try:
        return reader(path)
    except NstError:
        raise
    except Exception as exc:  # a damaged or foreign file fails in format-specific ways
        raise NstError(f"cannot read {path} as a {path.suffix} weights file: {exc}") from None


def write_weights_file(params: dict[str, np.ndarray], path: Path) -> None:
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise NstError(f"cannot write weights to {path}: use a {', '.join(WRITERS)} file")
    with atomic_write(path) as temporary:
        writer(params, temporary)


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    return load_file(str(path))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _read_pth(path: Path) -> dict[str, np.ndarray]:
    if importlib.util.find_spec("torch") is None:
        return read_pth(path)
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise NstError(f"{path} holds a {type(state).__name__}, not a state_dict")
    arrays = {}
    for key, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise NstError(f"{path}: {key} is a {type(tensor).__name__}, not a tensor")
        arrays[key] = tensor.detach().float().numpy()
    return arrays


def _flax_serialization():
    """flax.serialization, imported only for .msgpack files (importing flax imports jax)."""
    try:
        from flax import serialization
    except ImportError:
        raise NstError(".msgpack weights need flax: pip install 'nst[jax]'") from None
    return serialization


def _read_msgpack(path: Path) -> dict:
    return _flax_serialization().msgpack_restore(path.read_bytes())


def _write_safetensors(params: dict[str, np.ndarray], path: Path) -> None:
    save_file(params, str(path))


def _write_npz(params: dict[str, np.ndarray], path: Path) -> None:
    with open(path, "wb") as file:  # np.savez given a name would append ".npz" to the temporary
        # The stub lets a key of **params bind savez's own allow_pickle; conv1_1.weight and the
        # other names never do.
        np.savez(file, **cast("dict[str, Any]", params))


def _write_msgpack(params: dict[str, np.ndarray], path: Path) -> None:
    path.write_bytes(_flax_serialization().msgpack_serialize(to_flax(params)))


READERS = {
    ".safetensors": _read_safetensors,
    ".npz": _read_npz,
    ".pth": _read_pth,
    ".pt": _read_pth,
    ".msgpack": _read_msgpack,
}
WRITERS = {".safetensors": _write_safetensors, ".npz": _write_npz, ".msgpack": _write_msgpack}
