"""Coarse to fine: the sizes a multi-scale run optimises at, and the steps it spends at each.

A run at several scales optimises at a small size first, upsamples the result and continues
at the next size, each about sqrt(2) larger, up to ``--size``. The coarse scales are cheap
(half the pixels per sqrt(2) step down) and settle the large-scale layout, so the final scale
starts close to its optimum.

Auto adds one sqrt(2) step down when a run starts without the photo's layout (noise, style or
a file) and none from the content photo: nothing else paid, see docs/coarse-to-fine.md.
"""

from __future__ import annotations

import math

from nst.errors import NstError

SCALE_STEP = math.sqrt(2)
# Starting images that already have the photo's layout: coarse to fine does not pay from them.
PHOTO_INITS = ("content", "recolored")
# ``--scales 0`` (auto) adds the coarse scale only if it keeps at least this many pixels:
# below it VGG's relu5_1 sees a map of under 16 x 16, too little for the layout to carry over.
AUTO_SMALLEST_SIDE = 256
# Without --scale-iterations, each coarser scale takes this fraction of --iterations
# (see docs/coarse-to-fine.md).
COARSE_STEP_SHARE = 0.3


def scale_sizes(size: int, scales: int, init: str = "noise") -> tuple[int, ...]:
    """Longest sides from the coarsest to ``size``, each ``SCALE_STEP`` apart.

    ``scales`` 0 is auto: one scale when ``init`` is the content photo or when one step down
    would go below ``AUTO_SMALLEST_SIDE`` px (up to 361 px); otherwise two (362-512 at 512 px).
    """

    def side(k):
        return max(1, round(size / SCALE_STEP**k))

    if scales == 0:
        scales = 2 if init not in PHOTO_INITS and side(1) >= AUTO_SMALLEST_SIDE else 1
    return tuple(side(k) for k in reversed(range(scales)))


def scale_iterations(iterations: int, per_scale: tuple[int, ...] | None, n_scales: int) -> tuple[int, ...]:
    """Steps at each scale: ``per_scale`` when given (one count per scale), else
    ``COARSE_STEP_SHARE`` of ``iterations`` at each coarser scale and ``iterations`` at the last."""
    if per_scale is None:
        coarse = max(1, round(iterations * COARSE_STEP_SHARE))
        return (coarse,) * (n_scales - 1) + (iterations,)
    if len(per_scale) != n_scales:
        raise NstError(f"--scale-iterations has {len(per_scale)} counts for {n_scales} scales")
    return tuple(per_scale)
