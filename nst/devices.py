"""Device names as users write them (``--device``), and the messages when one is not there.

Both backends parse ``--device`` here, so a name or a list means the same on each and a wrong
one gets the same words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from nst.errors import NstError

T = TypeVar("T")
# What --device may name besides auto and all, alone or in a comma list.
DEVICE_NAME = re.compile(r"(cpu|cuda|gpu|tpu)(?::(\d+))?")
CHOICES = "auto, all, cpu, cuda, cuda:N, gpu or tpu, or a comma list such as cuda:0,cuda:1"
KIND_NAMES = {"cpu": "CPU", "gpu": "GPU", "tpu": "TPU"}


def parse_device(device: str) -> tuple[str, int | None]:
    """'cuda:1' -> ('gpu', 1), 'tpu' -> ('tpu', None); cuda and gpu are one platform."""
    match = DEVICE_NAME.fullmatch(device)
    if match is None:
        raise NstError(f"unknown device {device!r}; use {CHOICES}")
    platform = "gpu" if match.group(1) == "cuda" else match.group(1)
    return platform, None if match.group(2) is None else int(match.group(2))


def device_names(device_option: str, found: Sequence[str]) -> list[str]:
    """``--device`` for one run as the names of its devices: 'all' is every accelerator in
    ``found`` (a backend's ``devices()``), else its CPU; 'cuda:0,cuda:1' each; 'auto' or one
    name, that one. Checks the names' syntax, not that the devices exist."""
    if device_option == "all":
        accelerators = [name for name in found if not name.startswith("cpu")]
        return accelerators or [found[0]]
    names = [part.strip() for part in device_option.split(",")]
    if len(names) == 1:
        return names
    if "" in names:
        raise NstError(f"--device {device_option!r} has an empty item; list devices as cuda:0,cuda:1")
    for name in names:
        if name in ("auto", "all"):
            raise NstError(f"--device {name} stands alone, not in a list (--device {device_option!r})")
    platforms = {parse_device(name)[0] for name in names}
    if len(platforms) > 1:
        # A JAX mesh spans one platform; torch's devices share each step's tiles evenly, so a
        # CPU beside a GPU would make every step wait for it.
        raise NstError(f"--device {device_option!r} mixes kinds of device; list devices of one kind")
    return names


def resolve_devices(device_option: str, found: Sequence[str], resolve: Callable[[str], T]) -> list[T]:
    """The framework's devices for ``--device`` (``device_names``), each from the backend's
    ``resolve``: NstError for a device that is not here or one named twice ('cuda' and
    'cuda:0' are one; so are two names the backend resolves to one device, as torch does
    'cpu:0' and 'cpu:1')."""
    names = device_names(device_option, found)
    if len(names) == 1:
        return [resolve(names[0])]
    _check_distinct(device_option, names, [_canonical(name) for name in names])
    resolved = [resolve(name) for name in names]
    _check_distinct(device_option, names, resolved)
    return resolved


def _check_distinct(device_option: str, names: Sequence[str], keys: Sequence[object]) -> None:
    for later in range(len(names)):
        for earlier in range(later):
            if keys[earlier] == keys[later]:
                first, name = names[earlier], names[later]
                same = f"{name!r} twice" if first == name else f"{first!r} and {name!r}, one device,"
                raise NstError(f"--device lists {same} in {device_option!r}; list each device once")


def _canonical(name: str) -> tuple[str, int]:
    platform, index = parse_device(name)
    return platform, index or 0


def none_here(device: str, framework: str, platform: str) -> NstError:
    return NstError(
        f"device {device!r} asked for, but {framework} sees no {KIND_NAMES[platform]} here; use --device cpu"
    )


def index_out_of_range(device: str, count: int, platform: str) -> NstError:
    return NstError(f"device {device!r} does not exist; this machine has {count} {KIND_NAMES[platform]}(s)")
