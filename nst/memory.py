"""Refuse, before it starts, a CPU run that cannot fit in the machine's memory.

Linux overcommits memory: a process that needs more than the machine has is usually not
refused an allocation but killed by the kernel part way, with no message. A run whose
estimated peak exceeds the machine's RAM plus swap is refused instead; runs that fit only with
swap still run. Accelerators are not estimated: their frameworks refuse an allocation cleanly
(``nst.stylize`` turns that into one line).

The estimate is a fixed part plus bytes per output pixel at the final size, fitted to the peak
RSS of runs per backend and rounded down, so it errs low (docs/memory.md has the measurements).
Another network or a cut after another layer scales the per-pixel part by its activations per
pixel against VGG16's up to relu5_1, where it was measured.
"""

from __future__ import annotations

import os

from nst.config import CONTENT_LAYERS, PAPER_CONTENT_LAYERS, STYLE_LAYERS
from nst.network import VGG16, Arch

GIB = 2**30
FIXED_BYTES = 0.9 * GIB  # the interpreter, the framework and the weights (the fits' intercept)
BYTES_PER_PIXEL = {"torch": 2.5 * 1024, "jax": 4.5 * 1024}  # the slopes without L-BFGS's pairs
# Each L-BFGS pair is a step and a gradient change: two float32 images of 3 channels.
LBFGS_BYTES_PER_PIXEL_PER_PAIR = 2 * 3 * 4


def activations_per_pixel(arch: Arch, layers) -> float:
    """Values per input pixel that a forward pass cut after the deepest of ``layers`` produces
    (each conv, ReLU and pooling output; block b runs at 1 / 4**(b - 1) of the pixels)."""
    halvings, total = 0, 0.0
    for name in arch.cut(layers):
        halvings += name.startswith("pool")  # a pooling output is already at the halved size
        total += arch.channels(name) / 4**halvings
    return total


# The layers the slopes above were measured with (docs/memory.md).
MEASURED_LAYERS = STYLE_LAYERS + PAPER_CONTENT_LAYERS
MEASURED_ACTIVATIONS = activations_per_pixel(VGG16, MEASURED_LAYERS)


def estimated_peak_bytes(
    backend: str,
    pixels: int,
    optimizer: str,
    lbfgs_history: int,
    arch: Arch = VGG16,
    layers=STYLE_LAYERS + CONTENT_LAYERS,
) -> float | None:
    """Peak memory of a CPU run with ``pixels`` output pixels; None for a backend not measured."""
    if backend not in BYTES_PER_PIXEL:
        return None
    per_pixel = BYTES_PER_PIXEL[backend] * activations_per_pixel(arch, layers) / MEASURED_ACTIVATIONS
    if optimizer == "lbfgs":
        per_pixel += LBFGS_BYTES_PER_PIXEL_PER_PAIR * lbfgs_history
    return FIXED_BYTES + per_pixel * pixels


# A tiled run keeps image-sized arrays besides L-BFGS's pairs: the image, its gradient and
# their padded copies, the optimiser's state, the driver's content, style and init images;
# fourteen float32 RGB images fit the peak of a 4096 px poster (docs/tiling.md).
IMAGE_STATE_BYTES_PER_PIXEL = 14 * 3 * 4


def content_target_bytes_per_pixel(arch: Arch, content_layers) -> float:
    """The content features a tiled run keeps for the whole image, float32, per input pixel."""
    return sum(4 * arch.channels(layer) / 4 ** arch.downsampling([layer]) for layer in content_layers)


def image_state_bytes(pixels: int, optimizer: str, lbfgs_history: int, arch: Arch, content_layers) -> float:
    """What a tiled run keeps for the whole image, whatever the tile: the part tiling cannot shrink."""
    per_pixel = IMAGE_STATE_BYTES_PER_PIXEL + content_target_bytes_per_pixel(arch, content_layers)
    if optimizer == "lbfgs":
        per_pixel += LBFGS_BYTES_PER_PIXEL_PER_PAIR * lbfgs_history
    return per_pixel * pixels


def tiled_peak_bytes(
    backend: str,
    pixels: int,
    tile_side: int,
    optimizer: str,
    lbfgs_history: int,
    arch: Arch,
    layers,
    content_layers,
) -> float:
    """Peak memory of a tiled CPU run on a measured backend (``BYTES_PER_PIXEL``): one tile's
    pass (its input side ``tile_side``, halos included, measured like a whole image of that
    size) plus the image-sized state."""
    per_pixel = BYTES_PER_PIXEL[backend] * activations_per_pixel(arch, layers) / MEASURED_ACTIVATIONS
    tile = FIXED_BYTES + per_pixel * tile_side**2
    return tile + image_state_bytes(pixels, optimizer, lbfgs_history, arch, content_layers)


def machine_memory_bytes() -> int | None:
    """RAM plus swap, from /proc/meminfo (Linux); else RAM from sysconf; None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return sum(int(fields[key].split()[0]) * 1024 for key in ("MemTotal", "SwapTotal"))
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
