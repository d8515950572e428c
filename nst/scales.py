"""Coarse to fine: the sizes a run optimises at, and the steps it spends at each.

A run at several scales optimises at a small size first, upsamples the result and continues
at the next size, each about sqrt(2) larger, up to ``--size``. The coarsest scale lays out the
painting's large strokes, where VGG's deepest layers see about half the picture; each finer
scale adds finer strokes to that layout.

Auto starts near 256 px at any output size (256, 362, 512 at 512 px; 256 ... 1024 at 1024
px), so that 256, 512 and 1024 px outputs are one picture at three resolutions. The coarsest
scale takes ``--iterations`` steps and each finer one half as many: with twice the pixels, every
scale costs about the same time, and a run at one scale gets the coarsest scale's budget
(docs/quality.md).
"""

from __future__ import annotations

import math

from nst.errors import NstError

SCALE_STEP = math.sqrt(2)
# ``--scales 0`` (auto) steps down by sqrt(2) while the coarsest side stays at least this: below
# it VGG's relu5_1 sees a map of under 16 x 16, too little for the layout to carry over.
AUTO_SMALLEST_SIDE = 256
# Without --scale-iterations, each finer scale takes this share of the steps of the next
# coarser one: with twice the pixels, every scale then costs about the same time.
FINER_STEP_SHARE = 0.5


def scale_sizes(size: int, scales: int) -> tuple[int, ...]:
    """Longest sides from the coarsest to ``size``, each ``SCALE_STEP`` apart.

    ``scales`` 0 is auto: as many steps down as keep the coarsest side at least
    ``AUTO_SMALLEST_SIDE`` px (one scale below 362 px, three from 512 px, five from 1024 px).
    """

    def side(k):
        return max(1, round(size / SCALE_STEP**k))

    if scales == 0:
        scales = 1
        while side(scales) >= AUTO_SMALLEST_SIDE:
            scales += 1
    return tuple(side(k) for k in reversed(range(scales)))


def scale_iterations(iterations: int, per_scale: tuple[int, ...] | None, n_scales: int) -> tuple[int, ...]:
    """Steps at each scale: ``per_scale`` when given (one count per scale), else ``iterations``
    at the coarsest scale and ``FINER_STEP_SHARE`` of the coarser one's at each finer one (at
    least one)."""
    if per_scale is None:
        return tuple(max(1, math.ceil(iterations * FINER_STEP_SHARE**k)) for k in range(n_scales))
    if len(per_scale) != n_scales:
        raise NstError(f"--scale-iterations has {len(per_scale)} counts for {n_scales} scales")
    return tuple(per_scale)
