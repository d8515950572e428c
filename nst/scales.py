"""Coarse to fine: the sizes a multi-scale run optimises at, and the steps it spends at each.

A run at several scales optimises at a small size first, upsamples the result and continues
at the next size, each about sqrt(2) larger, up to ``--size``. The coarse scales are cheap
(half the pixels per sqrt(2) step down) and settle the large-scale layout, so the final scale
starts close to its optimum.

What auto does comes from ``python -m bench.multiscale`` at 512 px, 500 L-BFGS steps
(bench/results/multiscale-cuda-h200-*-2026-11-26, warm-up corrected): from noise, 256 x 100,
362 x 100, 512 x 500 steps reached the single-scale run's final loss in 0.79 of its time and
ended 5% lower, while 500 steps at every scale took 2.3 times as long. From the content photo,
whose layout is already the right one, no three-scale schedule tried reached that loss at all
(the 512 px stage ends where a single-scale run ends after as many steps, and the coarse steps
are spent on top); so auto uses one scale there.
"""

from __future__ import annotations

import math

from nst.errors import NstError

SCALE_STEP = math.sqrt(2)
# ``--scales 0`` (auto) adds coarser scales while the smallest stays at least this many pixels:
# below it VGG's relu5_1 sees a map of under 16 x 16, too little for the layout to carry over.
AUTO_SMALLEST_SIDE = 256
# Without --scale-iterations, each coarser scale takes this fraction of --iterations (measured above).
COARSE_STEP_SHARE = 1 / 5


def scale_sizes(size: int, scales: int, init: str = "noise") -> tuple[int, ...]:
    """Longest sides from the coarsest to ``size``, each ``SCALE_STEP`` apart.

    ``scales`` 0 is auto: one scale when ``init`` is the content photo; otherwise as many as
    keep the coarsest at least ``AUTO_SMALLEST_SIDE`` px (one scale up to 361 px, 256-362-512
    at 512 px, five scales at 1024 px).
    """
    side = lambda k: max(1, round(size / SCALE_STEP**k))
    if scales == 0:
        scales = 1
        while init != "content" and side(scales) >= AUTO_SMALLEST_SIDE:
            scales += 1
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
