"""How much host memory a CPU run takes: the formulas behind ``nst.plan``.

Linux overcommits memory: a process that needs more than the machine has is usually not
refused an allocation but killed by the kernel part way, with no message. So a CPU run is
planned (tiled, or refused) before it starts. Accelerators are not estimated: their frameworks
refuse an allocation cleanly (``nst.stylize`` turns that into one line).

The estimate is a fixed part plus bytes per output pixel at the final size. Each backend gives
its own per-pixel slope (``HostMemoryModel``, fitted to the peak RSS of its runs and rounded
down, so it errs low; docs/memory.md has the measurements). Another network or a cut after
another layer scales the per-pixel part by its activations per pixel against VGG16's up to
relu5_1, where it was measured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from nst.arch import VGG16, Arch
from nst.options.config import CONTENT_LAYERS, PAPER_CONTENT_LAYERS, STYLE_LAYERS

GIB = 2**30
FIXED_BYTES = 0.9 * GIB  # the interpreter, the framework and the weights (the fits' intercept)


@dataclass(frozen=True)
class HostMemoryModel:
    """A backend's peak host memory per output pixel, without L-BFGS's pairs, measured with
    VGG16 up to relu5_1 (``MEASURED_LAYERS``) on the CPU (docs/memory.md)."""

    bytes_per_pixel: float
    fixed_bytes: float = FIXED_BYTES


def describe_model(model: HostMemoryModel) -> str:
    return (
        f"an estimate fitted to CPU runs ({model.bytes_per_pixel / 1024:.1f} KiB per pixel "
        f"plus {model.fixed_bytes / GIB:.1f} GiB, docs/memory.md)"
    )


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


def _network_bytes_per_pixel(model: HostMemoryModel, arch: Arch, layers) -> float:
    return model.bytes_per_pixel * activations_per_pixel(arch, layers) / MEASURED_ACTIVATIONS


def estimated_peak_bytes(
    model: HostMemoryModel,
    pixels: int,
    optimizer: str,
    lbfgs_history: int,
    arch: Arch = VGG16,
    layers=STYLE_LAYERS + CONTENT_LAYERS,
) -> float:
    """Peak memory of a CPU run with ``pixels`` output pixels."""
    per_pixel = _network_bytes_per_pixel(model, arch, layers)
    if optimizer == "lbfgs":
        per_pixel += LBFGS_BYTES_PER_PIXEL_PER_PAIR * lbfgs_history
    return model.fixed_bytes + per_pixel * pixels


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
    model: HostMemoryModel,
    pixels: int,
    tile_side: int,
    optimizer: str,
    lbfgs_history: int,
    arch: Arch,
    layers,
    content_layers,
) -> float:
    """Peak memory of a tiled CPU run: one tile's pass (its input side ``tile_side``, halos
    included, measured like a whole image of that size) plus the image-sized state."""
    tile = model.fixed_bytes + _network_bytes_per_pixel(model, arch, layers) * tile_side**2
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
