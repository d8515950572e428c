"""Coarse to fine: the sizes a run optimises at, and the steps it spends at each.

A run at several scales optimises at a small size first, upsamples the result and continues
at the next size, each about sqrt(2) larger, up to ``--size``. The coarse scales are cheap
(half the pixels per sqrt(2) step down) and lay out the painting's large strokes where VGG's
receptive fields cover more of the picture; the finer scales add the fine ones.

Auto takes up to two sqrt(2) steps down (256, 362, 512 px at 512 px), none below 256 px, from
any starting image: at 512 px this is what made nst's picture as stylised as the reference
implementation's in half of the single-scale time (docs/quality.md).
"""

from __future__ import annotations

import math

from nst.errors import NstError

SCALE_STEP = math.sqrt(2)
# ``--scales 0`` (auto) takes at most this many sqrt(2) steps down (docs/quality.md) ...
AUTO_STEPS_DOWN = 2
# ... and none below this side: below it VGG's relu5_1 sees a map of under 16 x 16, too little
# for the layout to carry over.
AUTO_SMALLEST_SIDE = 256
# Without --scale-iterations, each coarser scale takes this many times the steps of the next
# finer one: with half the pixels, every scale then costs about the same time.
COARSER_STEP_FACTOR = 2


def scale_sizes(size: int, scales: int) -> tuple[int, ...]:
    """Longest sides from the coarsest to ``size``, each ``SCALE_STEP`` apart.

    ``scales`` 0 is auto: ``AUTO_STEPS_DOWN`` steps down, fewer where a step would go below
    ``AUTO_SMALLEST_SIDE`` px (one scale below 362 px, three from 512 px).
    """

    def side(k):
        return max(1, round(size / SCALE_STEP**k))

    if scales == 0:
        scales = 1 + sum(1 for k in range(1, AUTO_STEPS_DOWN + 1) if side(k) >= AUTO_SMALLEST_SIDE)
    return tuple(side(k) for k in reversed(range(scales)))


def scale_iterations(iterations: int, per_scale: tuple[int, ...] | None, n_scales: int) -> tuple[int, ...]:
    """Steps at each scale: ``per_scale`` when given (one count per scale), else ``iterations``
    at the last scale and ``COARSER_STEP_FACTOR`` times more at each coarser one."""
    if per_scale is None:
        return tuple(iterations * COARSER_STEP_FACTOR**k for k in reversed(range(n_scales)))
    if len(per_scale) != n_scales:
        raise NstError(f"--scale-iterations has {len(per_scale)} counts for {n_scales} scales")
    return tuple(per_scale)
