"""Read a PyTorch ``.pth`` state_dict into numpy arrays without torch.

Two formats exist (torch/serialization.py):

* zip (torch >= 1.6): ``<prefix>/data.pkl`` is the pickled object, whose tensors refer by
  persistent id to storages stored raw in ``<prefix>/data/<key>``.
* legacy (what torchvision's 2017 VGG files use): consecutive pickles of the magic number,
  the protocol version, a sys-info dict, the object, and the sorted list of storage keys;
  then, for each key in that order, an 8-byte little-endian element count and the raw data.

Tensors come back as placeholders while unpickling (the legacy data follows the pickle) and
become numpy arrays once every storage has been read.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from nst.errors import NstError
from nst.weights.safe_pickle import RestrictedUnpickler

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch/serialization.py
LEGACY_PROTOCOL_VERSION = 1001  # torch/serialization.py

STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *_grad_hooks_metadata) -> _TensorRef:
    """Stands in for torch._utils._rebuild_tensor(_v2); requires_grad, hooks and metadata are
    irrelevant to weights."""
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


class _TorchUnpickler(RestrictedUnpickler):
    allowed = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,  # torch < 0.4
        ("collections", "OrderedDict"): OrderedDict,
        **{("torch", name): _StorageType(np.dtype(dtype)) for name, dtype in STORAGE_DTYPES.items()},
    }

    def __init__(self, file: BinaryIO, source: str):
        super().__init__(file, source)
        self.storages: dict[str, np.dtype] = {}

    def persistent_load(self, pid):
        # zip: ("storage", type, key, location, numel); legacy adds view_metadata
        kind, storage_type, key, _location, _numel, *view = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise NstError(f"{self.source}: unsupported persistent object {kind!r}")
        if view and view[0] is not None:
            raise NstError(f"{self.source}: storage views (torch < 0.4) are not supported")
        self.storages[key] = storage_type.dtype
        return _StorageRef(key, storage_type.dtype)


def read_pth(path: Path) -> dict[str, np.ndarray]:
    """A state_dict saved by ``torch.save``, zip or legacy format, as numpy arrays."""
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    with open(path, "rb") as file:
        return _read_legacy(file, str(path))


def _read_zip(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickle_name = next((n for n in names if n.endswith("data.pkl")), None)
        if pickle_name is None:
            raise NstError(f"{path}: a zip file without data.pkl is not a PyTorch file")
        prefix = pickle_name[: -len("data.pkl")]
        byteorder = archive.read(f"{prefix}byteorder") if f"{prefix}byteorder" in names else b"little"
        unpickler = _TorchUnpickler(io.BytesIO(archive.read(pickle_name)), str(path))
        state = unpickler.load()
        order: Literal["<", ">"] = "<" if byteorder == b"little" else ">"
        storages = {
            key: np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype.newbyteorder(order))
            for key, dtype in unpickler.storages.items()
        }
    return _materialize(state, storages, str(path))


def _read_legacy(file: BinaryIO, source: str) -> dict[str, np.ndarray]:
    if RestrictedUnpickler(file, source).load() != MAGIC_NUMBER:
        raise NstError(f"{source} is not a PyTorch file (wrong magic number)")
    version = RestrictedUnpickler(file, source).load()
    if version != LEGACY_PROTOCOL_VERSION:
        raise NstError(f"{source}: unsupported legacy PyTorch protocol version {version}")
    sys_info = RestrictedUnpickler(file, source).load()
    order: Literal["<", ">"] = "<" if sys_info.get("little_endian", True) else ">"
    unpickler = _TorchUnpickler(file, source)
    state = unpickler.load()
    storages = {}
    for key in RestrictedUnpickler(file, source).load():
        dtype = unpickler.storages[key].newbyteorder(order)
        (count,) = struct.unpack("<q", file.read(8))
        data = file.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise NstError(f"{source} is truncated (storage {key})")
        storages[key] = np.frombuffer(data, dtype)
    return _materialize(state, storages, source)


def _materialize(state, storages: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise NstError(f"{source} holds a {type(state).__name__}, not a state_dict")
    arrays = {}
    for key, tensor in state.items():
        if not isinstance(tensor, _TensorRef):
            raise NstError(f"{source}: {key} is a {type(tensor).__name__}, not a tensor")
        arrays[key] = _tensor_array(tensor, storages[tensor.storage.key], f"{source}: {key}")
    return arrays


def _tensor_array(tensor: _TensorRef, storage: np.ndarray, where: str) -> np.ndarray:
    # as_strided reads whatever memory the strides reach: check they stay inside the storage.
    if len(tensor.shape) != len(tensor.stride) or min(tensor.stride, default=0) < 0:
        raise NstError(f"{where}: malformed tensor")
    if 0 in tensor.shape:
        return np.zeros(tensor.shape, storage.dtype)
    last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride))
    if tensor.offset < 0 or last >= storage.size:
        raise NstError(f"{where}: tensor extends past its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[tensor.offset :], tensor.shape, tuple(s * storage.itemsize for s in tensor.stride)
    )
    return view.copy()
