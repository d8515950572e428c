"""The video extra's modules, imported on first use: ``import nst`` stays light."""

from __future__ import annotations

import importlib
from types import ModuleType

from nst.errors import NstError

INSTALL = "pip install 'nst[video]'"


def require(module: str) -> ModuleType:
    """``av`` or ``cv2``, or one NstError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = {"av": "PyAV", "cv2": "OpenCV"}[module]
        raise NstError(f"video needs {package}, which is not installed; {INSTALL}") from None
