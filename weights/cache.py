"""The canonical cache: one ``<name>.safetensors`` per weight source, written atomically."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from nst.errors import NstError


def cache_dir() -> Path:
    """$NST_CACHE_DIR, else $XDG_CACHE_HOME/nst, else ~/.cache/nst."""
    if os.environ.get("NST_CACHE_DIR"):
        return Path(os.environ["NST_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "nst"
    return Path.home() / ".cache" / "nst"


def cached_path(name: str) -> Path:
    return cache_dir() / f"{name}.safetensors"


@contextlib.contextmanager
def atomic_write(dest: Path):
    """Yield a temporary path beside ``dest``; it becomes ``dest`` only if the block succeeds."""
    # A fresh name rather than mkstemp: the writer creates the file with the umask's mode.
    temporary = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, dest)
    except OSError as exc:
        raise NstError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


def write_canonical(params: dict[str, np.ndarray], path: Path) -> None:
    with atomic_write(path) as temporary:
        save_file(params, str(temporary))


def read_canonical(path: Path) -> dict[str, np.ndarray]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise NstError(f"cannot read the cached {path} ({exc}); delete it to rebuild it") from None
