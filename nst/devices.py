"""Device names as users write them (``--device``), and the messages when one is not there.

Both backends parse ``--device`` here, so a name means the same on each and a wrong one gets
the same words.
"""

from __future__ import annotations

import re

from nst.errors import NstError

# What --device may name besides auto.
DEVICE_NAME = re.compile(r"(cpu|cuda|gpu|tpu)(?::(\d+))?")
CHOICES = "auto, cpu, cuda, cuda:N, gpu or tpu"
KIND_NAMES = {"cpu": "CPU", "gpu": "GPU", "tpu": "TPU"}


def parse_device(device: str) -> tuple[str, int | None]:
    """'cuda:1' -> ('gpu', 1), 'tpu' -> ('tpu', None); cuda and gpu are one platform."""
    match = DEVICE_NAME.fullmatch(device)
    if match is None:
        raise NstError(f"unknown device {device!r}; use {CHOICES}")
    platform = "gpu" if match.group(1) == "cuda" else match.group(1)
    return platform, None if match.group(2) is None else int(match.group(2))


def none_here(device: str, framework: str, platform: str) -> NstError:
    return NstError(
        f"device {device!r} asked for, but {framework} sees no {KIND_NAMES[platform]} here; use --device cpu"
    )


def index_out_of_range(device: str, count: int, platform: str) -> NstError:
    return NstError(f"device {device!r} does not exist; this machine has {count} {KIND_NAMES[platform]}(s)")
