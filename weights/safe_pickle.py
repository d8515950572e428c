"""Unpicklers that build only what a weight file needs; any other global is refused.

A pickle can call any importable function while it loads, so weight files are never read
with plain ``pickle.load``: each reader lists the few globals its format uses.
"""

from __future__ import annotations

import importlib
import pickle
from typing import Any, BinaryIO, ClassVar

import numpy as np

from nst.errors import NstError

try:
    _multiarray = importlib.import_module("numpy._core.multiarray")  # numpy >= 2
except ImportError:  # numpy 1.x
    _multiarray = importlib.import_module("numpy.core.multiarray")


class RestrictedUnpickler(pickle.Unpickler):
    """Admits only the globals in ``allowed``; with none, plain data (numbers, str, containers)."""

    allowed: ClassVar[dict[tuple[str, str], Any]] = {}

    def __init__(self, file: BinaryIO, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise NstError(
                f"refusing to load {module}.{name} from {self.source}: a weight file may hold only arrays"
            ) from None


class NumpyUnpickler(RestrictedUnpickler):
    """numpy arrays in plain containers, as ``pickle.dump`` writes them."""

    allowed = {
        # Pickles written by numpy 1.x name numpy.core; numpy 2 moved it to numpy._core.
        ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
